# One service account per function, plus the identity Pub/Sub pushes with and the one Cloud
# Build uses. Every role is granted on the resource it is needed for; the few that Google only
# offers at project level carry an IAM condition that narrows them to our resources, except
# secret creation, which no condition can narrow (see below).

resource "google_service_account" "function" {
  for_each     = local.entry_points
  project      = var.project_id
  account_id   = "${var.prefix}-${substr(replace(each.key, "_", "-"), 0, 10)}"
  display_name = "${each.key} function (${var.prefix})"
  depends_on   = [google_project_service.apis] # iam.googleapis.com on a fresh project
}

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "${var.prefix}-push"
  display_name = "Pub/Sub push identity for sync_worker and deliver_notification (${var.prefix})"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.prefix}-build"
  display_name = "Builds the functions' containers (${var.prefix})"
  depends_on   = [google_project_service.apis]
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
# The worker reads tokens, and deletes a user's token secret when it finishes a disconnect
# that went on in the bulk lane (sync/disconnect/job.py: more events than the DELETE request
# removes itself, or a stalled disconnect the maintenance tick resumes). integrations creates
# a secret per connection, adds and destroys its versions (connect, reconnect) and deletes it
# (disconnect).
#
# secretmanager.secrets.create is checked on the parent project (CreateSecret's `parent`), so
# a condition on resource.name.startsWith(".../secrets/calendar-token-") is evaluated against
# "projects/<n>" and never matches a create. Creating is therefore granted unconditioned, alone,
# through a one-permission custom role; everything that touches an existing secret stays
# conditioned on the prefix, so integrations can read or change no secret but the tokens.
resource "google_project_iam_member" "worker_token_reader" {
  project = var.project_id
  role    = "roles/secretmanager.secretAccessor"
  member  = google_service_account.function["sync_worker"].member
  condition {
    title      = "calendar-token-secrets-only"
    expression = "resource.name.startsWith(\"${local.token_secret_prefix}\")"
  }
}

# A disconnect finished by the worker ends with SecretManagerVault.destroy (delete_secret):
# without this the job fails on PermissionDenied after the grant was revoked, and the user's
# token secret outlives the disconnect that asked for its deletion.
resource "google_project_iam_custom_role" "token_secret_remover" {
  project     = var.project_id
  role_id     = "${replace(var.prefix, "-", "_")}_tokenSecretRemover"
  title       = "Delete calendar token secrets (${var.prefix})"
  description = "Only secretmanager.secrets.delete; granted only on calendar-token-*."
  permissions = ["secretmanager.secrets.delete"]
  depends_on  = [google_project_service.apis]
}

resource "google_project_iam_member" "worker_token_remover" {
  project = var.project_id
  role    = google_project_iam_custom_role.token_secret_remover.id
  member  = google_service_account.function["sync_worker"].member
  condition {
    title      = "calendar-token-secrets-only"
    expression = "resource.name.startsWith(\"${local.token_secret_prefix}\")"
  }
}

resource "google_project_iam_custom_role" "token_secret_creator" {
  project     = var.project_id
  role_id     = "${replace(var.prefix, "-", "_")}_tokenSecretCreator"
  title       = "Create calendar token secrets (${var.prefix})"
  description = "Only secretmanager.secrets.create, which Secret Manager checks on the project."
  permissions = ["secretmanager.secrets.create"]
  depends_on  = [google_project_service.apis]
}

resource "google_project_iam_custom_role" "token_secret_keeper" {
  project     = var.project_id
  role_id     = "${replace(var.prefix, "-", "_")}_tokenSecretKeeper"
  title       = "Keep calendar token secrets (${var.prefix})"
  description = "What sync/adapters/secrets.py does to an existing token secret; granted only on calendar-token-*."
  permissions = local.token_secret_permissions
  depends_on  = [google_project_service.apis]
}

locals {
  # Secret Manager client call in sync/adapters/secrets.py -> the permission it needs
  # (tests/terraform checks that every call the vault makes is covered).
  token_secret_calls = {
    add_secret_version     = "secretmanager.versions.add"
    access_secret_version  = "secretmanager.versions.access"
    list_secret_versions   = "secretmanager.versions.list"
    destroy_secret_version = "secretmanager.versions.destroy"
    delete_secret          = "secretmanager.secrets.delete"
  }
  token_secret_permissions = sort(concat(values(local.token_secret_calls), ["secretmanager.secrets.get", "secretmanager.versions.get"]))
}

resource "google_project_iam_member" "integrations_token_creator" {
  project = var.project_id
  role    = google_project_iam_custom_role.token_secret_creator.id
  member  = google_service_account.function["integrations"].member
}

resource "google_project_iam_member" "integrations_token_keeper" {
  project = var.project_id
  role    = google_project_iam_custom_role.token_secret_keeper.id
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

# The build does not fetch our object: Cloud Functions copies it into its own bucket
# gcf-v2-sources-<project number>-<region> and the build reads that copy ("Access to bucket
# gcf-v2-sources-… denied. You must grant Storage Object Viewer permission to <build SA>",
# hashicorp/terraform-provider-google#20571). That bucket is Google-managed and may not exist
# before the first deployment, so the grant is project-level, conditioned on its name.
resource "google_project_iam_member" "build_reads_gcf_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = google_service_account.build.member
  condition {
    title      = "gcf-v2-sources-bucket-only"
    expression = "resource.name == \"projects/_/buckets/${local.gcf_sources_bucket}\" || resource.name.startsWith(\"projects/_/buckets/${local.gcf_sources_bucket}/\")"
  }
}

# IAM is eventually consistent: the provider's own example (cloudfunctions2_basic_builder)
# waits 60 s after the builder's grants before creating the function.
resource "time_sleep" "build_iam_propagation" {
  create_duration = "60s"
  triggers = {
    build_account = google_service_account.build.email
  }
  depends_on = [
    google_project_iam_member.build,
    google_project_iam_member.build_reads_gcf_sources,
    google_storage_bucket_iam_member.build_reads_source,
  ]
}
