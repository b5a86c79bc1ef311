# --- Source: the repository without tests, tooling and local state, zipped and uploaded. ------
data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/.."
  output_path = "${path.module}/.build/source.zip"
  excludes = setunion(
    fileset("${path.module}/..", ".git/**"),
    fileset("${path.module}/..", ".venv*/**"),
    fileset("${path.module}/..", ".local/**"),
    fileset("${path.module}/..", ".ci/**"),
    fileset("${path.module}/..", "tests/**"),
    fileset("${path.module}/..", "terraform/**"),
    fileset("${path.module}/..", "bench/**"),
    fileset("${path.module}/..", "local/**"),
    fileset("${path.module}/..", "scripts/**"),
    fileset("${path.module}/..", "test-artifacts/**"),
    fileset("${path.module}/..", "build/**"),
    fileset("${path.module}/..", "**/__pycache__/**"),
    fileset("${path.module}/..", "**/.*_cache/**"),
  )
}

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Holds only build inputs written by terraform; Cloud Audit Logs record access, a separate access-log bucket adds nothing.
  project                     = var.project_id
  name                        = "${var.project_id}-${var.prefix}-source"
  location                    = var.region
  labels                      = var.labels
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  versioning {
    enabled = true
  }
  lifecycle_rule {
    condition {
      num_newer_versions = 5
    }
    action {
      type = "Delete"
    }
  }
  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  # Named by content, so a changed source redeploys the functions.
  name   = "source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

# --- The three functions. ---------------------------------------------------------------------
locals {
  common_env = {
    GOOGLE_CLOUD_PROJECT = var.project_id
    SYNC_TOPIC           = google_pubsub_topic.sync.name
    SECRETS_BACKEND      = "secret-manager"
    LOG_LEVEL            = "INFO"
  }
  function_env = {
    handle_webhook = {}
    sync_worker = {
      SEND_UPDATES = var.send_updates
      # A delivery holds its event for longer than the worker can possibly run.
      LEASE_SECONDS = tostring(var.functions["sync_worker"].timeout_seconds + 60)
    }
    integrations = {
      SEND_UPDATES           = var.send_updates
      PUBLIC_BASE_URL        = local.integrations_url
      ALLOWED_RETURN_ORIGINS = join(",", var.allowed_return_origins)
    }
  }
  # handle_webhook and integrations are public (signature / OAuth state are their guards);
  # the worker is reachable only from inside Google (Pub/Sub push) and only by the push identity.
  ingress = {
    handle_webhook = "ALLOW_ALL"
    sync_worker    = "ALLOW_INTERNAL_ONLY"
    integrations   = "ALLOW_ALL"
  }
}

resource "google_cloudfunctions2_function" "function" {
  #checkov:skip=CKV_GCP_124:handle_webhook and integrations must be reachable by the platform and by users' browsers (their guards are the webhook signature and the signed link token); sync_worker is ALLOW_INTERNAL_ONLY.
  for_each = local.entry_points
  project  = var.project_id
  location = var.region
  name     = local.function_names[each.key]
  labels   = var.labels

  build_config {
    runtime         = var.python_runtime
    entry_point     = each.value
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = var.functions[each.key].memory
    available_cpu                    = var.functions[each.key].cpu
    timeout_seconds                  = var.functions[each.key].timeout_seconds
    max_instance_count               = var.functions[each.key].max_instances
    min_instance_count               = var.functions[each.key].min_instances
    max_instance_request_concurrency = var.functions[each.key].concurrency
    ingress_settings                 = local.ingress[each.key]
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function[each.key].email
    environment_variables            = merge(local.common_env, local.function_env[each.key])
  }

  depends_on = [
    google_project_service.apis,
    google_project_iam_member.build,
    google_storage_bucket_iam_member.build_reads_source,
  ]
}

# --- Who may call them. -----------------------------------------------------------------------
resource "google_cloud_run_service_iam_member" "public" {
  #checkov:skip=CKV_GCP_102:The platform's webhooks and users' browsers call these; the Standard Webhooks signature and the signed link token / OAuth state are the guards.
  for_each = toset(["handle_webhook", "integrations"])
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.function[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_service_iam_member" "push_invokes_worker" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.function["sync_worker"].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}
