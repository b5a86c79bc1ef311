data "google_project" "this" {
  project_id = var.project_id
}

locals {
  project_number = data.google_project.this.number
  pubsub_agent   = "serviceAccount:service-${local.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # main.py's functions-framework targets; Terraform deploys one Cloud Function each.
  entry_points = {
    handle_webhook = "handle_webhook"
    sync_worker    = "sync_worker"
    integrations   = "integrations"
  }

  function_names = { for k, _ in local.entry_points : k => "${var.prefix}-${replace(k, "_", "-")}" }

  # Gen2 function URLs are predictable, which breaks the cycle integrations -> its own URL.
  integrations_url = coalesce(var.integrations_public_url,
  "https://${var.region}-${var.project_id}.cloudfunctions.net/${local.function_names.integrations}")

  # Refresh tokens live one secret per connection under this prefix (sync/adapters/secrets.py).
  token_secret_prefix = "projects/${local.project_number}/secrets/calendar-token-"
}
