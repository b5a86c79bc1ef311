output "webhook_url" {
  description = "Where the platform sends its webhooks: https://<custom_domain>/webhook behind the load balancer, else handle_webhook's own URL."
  value       = local.edge ? "https://${var.custom_domain}${local.webhook_path}" : google_cloudfunctions2_function.function["handle_webhook"].service_config[0].uri
}

output "integrations_url" {
  description = "Base URL of the External integrations flow (the platform links to <it>/connect?token=…): https://<custom_domain>, else integrations' own run.app URL unless integrations_public_url is set."
  value       = local.integrations_url
}

output "oauth_redirect_uri" {
  description = "The redirect URI to register on the OAuth client."
  value       = local.oauth_redirect_uri
}

output "oauth_client_settings" {
  description = "What to enter by hand in Google Auth Platform (README: Going to production): the web client's authorized redirect URI, and the consent screen's privacy policy link and authorized domain (the registrable domain of the host, e.g. example.com for sync.example.com)."
  value = {
    authorized_redirect_uri = local.oauth_redirect_uri
    privacy_policy_url      = "${local.integrations_url}/privacy"
    host_to_authorize       = local.edge ? var.custom_domain : null
    scopes                  = local.oauth_scopes
  }
}

output "edge_ip_address" {
  description = "The load balancer's IPv4 address (null without custom_domain)."
  value       = local.edge ? google_compute_global_address.edge[0].address : null
}

output "dns_records" {
  description = "The DNS record to create at the domain's DNS host before the managed certificate can provision (empty without custom_domain)."
  value       = local.edge ? [{ name = "${var.custom_domain}.", type = "A", ttl = 300, data = google_compute_global_address.edge[0].address }] : []
}

output "edge_certificate" {
  description = "Name of the Google-managed certificate; `gcloud compute ssl-certificates describe <it> --global --format='value(managed.status,managed.domainStatus)'` shows its provisioning (null without custom_domain)."
  value       = local.edge ? google_compute_managed_ssl_certificate.edge[0].name : null
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
