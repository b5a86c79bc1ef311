output "webhook_url" {
  description = "Where the platform sends its webhooks."
  value       = google_cloudfunctions2_function.function["handle_webhook"].service_config[0].uri
}

output "integrations_url" {
  description = "Base URL of the External integrations flow (the platform links to <it>/connect?token=…)."
  value       = local.integrations_url
}

output "topic" {
  description = "Topic of platform changes (SYNC_TOPIC)."
  value       = google_pubsub_topic.sync.name
}

output "dead_letter_topic" {
  description = "Topic that receives changes out of delivery attempts."
  value       = google_pubsub_topic.dead_letter.name
}

output "dead_letter_subscription" {
  description = "Subscription that keeps dead letters for inspection and replay."
  value       = google_pubsub_subscription.dead_letter_inspect.name
}

output "service_accounts" {
  description = "The identity each function runs as."
  value       = { for k, sa in google_service_account.function : k => sa.email }
}
