# Configuration secrets. Terraform creates them empty; values are added out of band
# (README: "Setting the secrets"), so no secret ever sits in Terraform state.
# The functions read version "latest" through the API with a five-minute cache, so a new
# version takes effect without a redeploy (that is how the signing secrets are rotated).
locals {
  config_secrets = {
    "webhook-signing-secret"  = ["handle_webhook"]
    "link-signing-secret"     = ["integrations"]
    "oauth-client-id"         = ["sync_worker", "integrations"]
    "oauth-client-secret"     = ["sync_worker", "integrations"]
    "platform-webhook-secret" = ["deliver_notification"]
  }
  secret_accessors = merge([
    for secret, readers in local.config_secrets : {
      for reader in readers : "${secret}/${reader}" => { secret = secret, reader = reader }
    }
  ]...)
}

# Replicated where var.secret_locations says; the per-user token secrets that integrations
# creates at runtime get the same replicas (SECRET_REPLICA_LOCATIONS, functions.tf).
resource "google_secret_manager_secret" "config" {
  for_each  = local.config_secrets
  project   = var.project_id
  secret_id = each.key
  labels    = var.labels
  replication {
    user_managed {
      dynamic "replicas" {
        for_each = local.secret_locations
        content {
          location = replicas.value
        }
      }
    }
  }
  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = local.secret_accessors
  project   = var.project_id
  secret_id = google_secret_manager_secret.config[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.value.reader].member
}
