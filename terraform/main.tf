data "google_project" "this" {
  project_id = var.project_id
  # Read through Resource Manager, which a fresh project may not have enabled yet.
  depends_on = [google_project_service.apis]
}

locals {
  project_number = data.google_project.this.number
  # Named by the service identity, so every grant to it waits until the agent exists; the
  # fallback is the documented name, for the services whose identity call returns no email
  # (hashicorp/terraform-provider-google#21931).
  pubsub_agent = "serviceAccount:${coalesce(google_project_service_identity.pubsub.email, "service-${local.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com")}"

  # main.py's functions-framework targets (docs/README.md#the-functions); Terraform deploys one Cloud Function each.
  entry_points = {
    handle_webhook       = "handle_webhook"
    sync_worker          = "sync_worker"
    integrations         = "integrations"
    deliver_notification = "deliver_notification"
  }

  function_names = { for k, _ in local.entry_points : k => "${var.prefix}-${replace(k, "_", "-")}" }

  # A gen2 function is a Cloud Run service of the same name, and Cloud Run gives it a
  # deterministic URL https://SERVICE-PROJECT_NUMBER.REGION.run.app when "SERVICE-PROJECT_NUMBER"
  # fits a 63-character DNS label (longest here: 19-character prefix + "-deliver-notification"
  # + "-" + a 12-digit number = 53). Knowing it before the function exists breaks the cycle
  # function -> its own URL in its environment.
  run_urls = { for k, name in local.function_names : k => "https://${name}-${local.project_number}.${var.region}.run.app" }

  # With custom_domain the load balancer (loadbalancer.tf) is the only way in: integrations is
  # https://<domain> and the webhook https://<domain>/webhook. Otherwise integrations' own host
  # (not the project-wide cloudfunctions.net host) unless integrations_public_url names a gateway.
  edge               = var.custom_domain != ""
  integrations_url   = local.edge ? "https://${var.custom_domain}" : coalesce(var.integrations_public_url, local.run_urls.integrations)
  oauth_redirect_uri = "${local.integrations_url}/oauth/callback"
  # What the connect flow asks for (sync/adapters/calendar_api.py SCOPES; tests/terraform compares).
  oauth_scopes = [
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
  ]

  # Refresh tokens live one secret per connection under this prefix (sync/adapters/secrets.py).
  token_secret_prefix = "projects/${local.project_number}/secrets/calendar-token-"

  # Where Cloud Functions copies the uploaded source for the build to fetch it.
  gcf_sources_bucket = "gcf-v2-sources-${local.project_number}-${var.region}"

  # Replicas of every secret the deployment owns or creates (config and per-user tokens).
  secret_locations = coalescelist(var.secret_locations, [var.region])
}
