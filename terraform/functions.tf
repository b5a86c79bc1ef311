# --- Source: exactly main.py, requirements.txt and the sync package, zipped and uploaded. -----
# An allow-list of files rather than the repository minus exclusions: nothing else (tests,
# virtualenvs, local state, the archive itself) can slip in, and terraform reads no more than
# the few dozen files it ships. The archive is built from `source` blocks, so its output path
# lies in no source directory and the zip never contains a copy of itself.
locals {
  source_root = "${path.module}/.."
  source_files = sort(concat(
    ["main.py", "requirements.txt"],
    [for f in fileset(local.source_root, "sync/**") : f
    if !strcontains(f, "__pycache__/") && !endswith(f, ".pyc") && !can(regex("(^|/)\\.", f))],
  ))
}

data "archive_file" "source" {
  type             = "zip"
  output_path      = "${path.module}/.build/source.zip"
  output_file_mode = "0644"
  dynamic "source" {
    for_each = toset(local.source_files)
    content {
      content  = file("${local.source_root}/${source.value}")
      filename = source.value
    }
  }
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

# --- The four functions. ----------------------------------------------------------------------
locals {
  common_env = {
    GOOGLE_CLOUD_PROJECT = var.project_id
    SYNC_TOPIC           = google_pubsub_topic.sync.name
    SECRETS_BACKEND      = "secret-manager"
    LOG_LEVEL            = "INFO"
  }
  # What the push handlers check on the OIDC token Pub/Sub sends: the audience is exactly the
  # oidc_token.audience of the subscriptions that push to them (pubsub.tf), the email the push SA.
  push_env = {
    for k in ["sync_worker", "deliver_notification"] : k => {
      PUSH_AUDIENCE        = local.run_urls[k]
      PUSH_SERVICE_ACCOUNT = google_service_account.push.email
    }
  }
  # Read by the worker and integrations (docs/configuration.md#environment).
  sync_env = {
    SEND_UPDATES             = var.send_updates
    PUBLIC_BASE_URL          = local.integrations_url
    PLATFORM_WEBHOOK_URL     = var.platform_webhook_url
    DRIFT_POLICY             = var.drift_policy
    DRIFT_SCAN_MINUTES       = tostring(var.drift_scan_minutes)
    SECRET_REPLICA_LOCATIONS = join(",", local.secret_locations)
  }
  function_env = {
    handle_webhook = {}
    sync_worker = merge(local.sync_env, local.push_env.sync_worker, {
      # A delivery holds its event for longer than the worker can possibly run.
      LEASE_SECONDS = tostring(var.functions["sync_worker"].timeout_seconds + 60)
      # The first pause before a usage_limited calendar is tried again (docs/errors-and-limits.md#usage-limits).
      USAGE_LIMIT_RETRY_SECONDS = tostring(var.usage_limit_retry_seconds)
    })
    integrations = merge(local.sync_env, {
      ALLOWED_RETURN_ORIGINS = join(",", var.allowed_return_origins)
      # /privacy states how long Pub/Sub keeps changes (validated as "<seconds>s").
      QUEUE_RETENTION_SECONDS = trimsuffix(var.message_retention, "s")
    })
    deliver_notification = merge(local.push_env.deliver_notification, {
      PLATFORM_WEBHOOK_URL = var.platform_webhook_url
    })
  }
  # handle_webhook and integrations are public (signature / OAuth state are their guards): on
  # their run.app URLs, or only through the load balancer (and its Cloud Armor policies) when
  # custom_domain is set. The push targets are reachable only from inside Google (Pub/Sub push)
  # and only by the push identity; they are never behind the load balancer.
  public_ingress = local.edge ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_ALL"
  ingress = {
    handle_webhook       = local.public_ingress
    sync_worker          = "ALLOW_INTERNAL_ONLY"
    integrations         = local.public_ingress
    deliver_notification = "ALLOW_INTERNAL_ONLY"
  }
  public_functions = toset(["handle_webhook", "integrations"])
}

resource "google_cloudfunctions2_function" "function" {
  #checkov:skip=CKV_GCP_124:handle_webhook and integrations must be reachable by the platform and by users' browsers (their guards are the webhook signature and the signed link token): ALLOW_ALL on run.app by default, ALLOW_INTERNAL_AND_GCLB behind the load balancer with custom_domain; sync_worker and deliver_notification are ALLOW_INTERNAL_ONLY.
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
    time_sleep.build_iam_propagation,
  ]

  lifecycle {
    # A target main.py lacks still builds, then never starts (functions-framework's
    # MissingTargetException), and the apply fails halfway; refuse it at plan time instead.
    precondition {
      condition     = can(regex("@functions_framework\\.http\\s+def ${each.value}\\(", file("${local.source_root}/main.py")))
      error_message = "main.py defines no @functions_framework.http target \"${each.value}\" (docs/README.md#the-functions): its function could not start, so nothing is applied."
    }
    # Two front doors for one base URL would make PUBLIC_BASE_URL and the redirect URI ambiguous.
    precondition {
      condition     = var.custom_domain == "" || var.integrations_public_url == null
      error_message = "Set custom_domain or integrations_public_url, not both: with custom_domain the base URL is https://<custom_domain>."
    }
  }
}

# --- Who may call them. -----------------------------------------------------------------------
# allUsers by default. Organisations enforcing domain-restricted sharing
# (constraints/iam.allowedPolicyMemberDomains) refuse that binding: set public_invoker = "" and
# open the two services out of band, or name another principal (README: "Domain-restricted sharing").
resource "google_cloud_run_service_iam_member" "public" {
  #checkov:skip=CKV_GCP_102:The platform's webhooks and users' browsers call these; the Standard Webhooks signature and the signed link token / OAuth state are the guards.
  for_each = var.public_invoker == "" ? toset([]) : local.public_functions
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.function[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = var.public_invoker
}

resource "google_cloud_run_service_iam_member" "push_invokes" {
  for_each = toset(["sync_worker", "deliver_notification"])
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.function[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

moved {
  from = google_cloud_run_service_iam_member.push_invokes_worker
  to   = google_cloud_run_service_iam_member.push_invokes["sync_worker"]
}

# --- Request logs without credentials. --------------------------------------------------------
# Cloud Run logs every request it serves (run.googleapis.com/requests) with its full URL, query
# string included: GET /connect?token=<link token> and /oauth/callback?code=…&state=… would put
# credentials into Cloud Logging, which nothing in this service may do. Those entries of
# integrations are dropped before they are stored (the _Default sink's exclusion); integrations
# still logs each request itself, without its query. (The load balancer's own entries, with
# custom_domain: loadbalancer.tf.)
resource "google_logging_project_exclusion" "request_query_strings" {
  project     = var.project_id
  name        = "${var.prefix}-request-query-strings"
  description = "Cloud Run request entries of integrations whose URL has a query string (link tokens, OAuth codes and state)."
  filter      = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.function_names.integrations}\" AND logName=\"projects/${var.project_id}/logs/run.googleapis.com%2Frequests\" AND httpRequest.requestUrl:\"?\""
  depends_on  = [google_project_service.apis]
}
