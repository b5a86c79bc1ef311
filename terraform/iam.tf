# One service account per function, plus the identity Pub/Sub pushes with and the one Cloud
# Build uses. Every role is granted on the resource it is needed for; the few that Google only
# offers at project level carry an IAM condition that narrows them to our resources.

resource "google_service_account" "function" {
  for_each     = local.entry_points
  project      = var.project_id
  account_id   = "${var.prefix}-${substr(replace(each.key, "_", "-"), 0, 10)}"
  display_name = "${each.key} function (${var.prefix})"
}

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "${var.prefix}-push"
  display_name = "Pub/Sub push identity for sync_worker (${var.prefix})"
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.prefix}-build"
  display_name = "Builds the functions' containers (${var.prefix})"
}

# --- Firestore: worker and integrations read and write connections and mappings. -------------
# Firestore IAM is project-level; the condition limits it to this deployment's database.
resource "google_project_iam_member" "firestore_user" {
  for_each = toset(["sync_worker", "integrations"])
  project  = var.project_id
  role     = "roles/datastore.user"
  member   = google_service_account.function[each.key].member
  condition {
    title      = "only-the-default-database"
    expression = "resource.name == \"projects/${var.project_id}/databases/(default)\" || resource.name.startsWith(\"projects/${var.project_id}/databases/(default)/\")"
  }
}

# --- Per-user refresh-token secrets. ---------------------------------------------------------
# The worker only reads tokens; integrations creates, rotates and deletes them (connect,
# reconnect, disconnect). Creating secrets needs a project-level grant, so both are
# conditioned on the calendar-token- prefix: neither can touch any other secret.
resource "google_project_iam_member" "worker_token_reader" {
  project = var.project_id
  role    = "roles/secretmanager.secretAccessor"
  member  = google_service_account.function["sync_worker"].member
  condition {
    title      = "calendar-token-secrets-only"
    expression = "resource.name.startsWith(\"${local.token_secret_prefix}\")"
  }
}

resource "google_project_iam_member" "integrations_token_admin" {
  project = var.project_id
  role    = "roles/secretmanager.admin"
  member  = google_service_account.function["integrations"].member
  condition {
    title      = "calendar-token-secrets-only"
    expression = "resource.name.startsWith(\"${local.token_secret_prefix}\")"
  }
}

# --- Cloud Build: what building a gen2 function from our bucket needs. ------------------------
resource "google_project_iam_member" "build" {
  for_each = toset(["roles/logging.logWriter", "roles/artifactregistry.writer"])
  project  = var.project_id
  role     = each.value
  member   = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_reads_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}
