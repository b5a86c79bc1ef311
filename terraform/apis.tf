# The APIs the deployment calls, and nothing else (no Eventarc: the worker's trigger is a
# self-managed push subscription; no IAM Credentials: nothing here mints tokens through it).
resource "google_project_service" "apis" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    # Google Calendar API: the OAuth client lives in this project, so every Calendar call the
    # worker and integrations make is charged to it and refused (403 accessNotConfigured) while
    # it is disabled.
    "calendar-json.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    # data.google_project and every project-level IAM grant go through Resource Manager.
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# The Pub/Sub service agent is created lazily by Google; on a fresh project the grants to it
# (dead-lettering, OIDC push tokens) would name an account that does not exist yet.
resource "google_project_service_identity" "pubsub" {
  provider   = google-beta
  project    = var.project_id
  service    = "pubsub.googleapis.com"
  depends_on = [google_project_service.apis]
}
