output "webhook_url" {
  description = "Where the platform sends its webhooks."
  value       = google_cloudfunctions2_function.function["handle_webhook"].service_config[0].uri
}

output "integrations_url" {
  description = "Base URL of the External integrations flow (the platform links to <it>/connect?token=…); integrations' own run.app URL unless integrations_public_url is set."
  value       = local.integrations_url
}

output "oauth_redirect_uri" {
  description = "The redirect URI to register on the OAuth client."
  value       = local.oauth_redirect_uri
}

output "function_urls" {
  description = "Deterministic run.app URL of each function (the push targets' OIDC audiences)."
  value       = local.run_urls
}

output "deliver_notification_url" {
  description = "URL of deliver_notification (internal only; Pub/Sub pushes notifications to it)."
  value       = local.run_urls.deliver_notification
}

output "topic" {
  description = "Topic of platform changes (SYNC_TOPIC)."
  value       = google_pubsub_topic.sync.name
}

output "topics" {
  description = "Every topic, by role: sync, dead_letter, bulk, notifications, notifications_dead_letter."
  value = {
    sync                      = google_pubsub_topic.sync.name
    dead_letter               = google_pubsub_topic.dead_letter.name
    bulk                      = google_pubsub_topic.bulk.name
    notifications             = google_pubsub_topic.notifications.name
    notifications_dead_letter = google_pubsub_topic.notifications_dead_letter.name
  }
}

output "dead_letter_topic" {
  description = "Topic that receives changes out of delivery attempts."
  value       = google_pubsub_topic.dead_letter.name
}

output "dead_letter_subscription" {
  description = "Subscription that keeps dead letters for inspection and replay."
  value       = google_pubsub_subscription.dead_letter_inspect.name
}

output "notifications_dead_letter_subscription" {
  description = "Subscription that keeps undeliverable notifications for inspection and replay."
  value       = google_pubsub_subscription.notifications_dead_letter_inspect.name
}

output "maintenance_job" {
  description = "Cloud Scheduler job that publishes the maintenance tick."
  value       = google_cloud_scheduler_job.maintenance.id
}

output "service_accounts" {
  description = "The identity each function runs as."
  value       = { for k, sa in google_service_account.function : k => sa.email }
}
