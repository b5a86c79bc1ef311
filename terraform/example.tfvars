project_id             = "evolutto-calendar-prod"
region                 = "southamerica-east1"
firestore_location     = "southamerica-east1"
prefix                 = "evolutto-sync"
allowed_return_origins = ["https://app.evolutto.com.br"]
send_updates           = "none"
notification_channels  = ["projects/evolutto-calendar-prod/notificationChannels/1234567890"]
operators              = ["group:oncall@evolutto.com.br"]
