resource "google_pubsub_topic" "sync" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; changes hold appointments, not regulated data, and CMEK would add a KMS dependency to the hot path.
  project                    = var.project_id
  name                       = var.topic_name
  labels                     = var.labels
  message_retention_duration = var.message_retention
  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }
  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption, as for the main topic.
  project = var.project_id
  name    = "${var.topic_name}-dead-letter"
  labels  = var.labels
  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }
  depends_on = [google_project_service.apis]
}

# The worker is an HTTP function behind this self-managed push subscription (an Eventarc
# trigger's subscription cannot be ordered). Ordering is on; correctness does not depend on it.
resource "google_pubsub_subscription" "worker" {
  project                    = var.project_id
  name                       = "${var.topic_name}-worker"
  topic                      = google_pubsub_topic.sync.id
  labels                     = var.labels
  enable_message_ordering    = true
  ack_deadline_seconds       = var.functions["sync_worker"].timeout_seconds
  message_retention_duration = var.message_retention

  push_config {
    push_endpoint = google_cloudfunctions2_function.function["sync_worker"].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.function["sync_worker"].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = var.retry_backoff.minimum
    maximum_backoff = var.retry_backoff.maximum
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = "" # never expires, however quiet the platform is
  }
}

# Keeps dead letters for inspection and replay (python -m sync.ops dead-letters …). Unordered,
# so an operator sees every message at once; replay restores each key's order by publish time.
resource "google_pubsub_subscription" "dead_letter_inspect" {
  project                    = var.project_id
  name                       = "${var.topic_name}-dead-letter-inspect"
  topic                      = google_pubsub_topic.dead_letter.id
  labels                     = var.labels
  enable_message_ordering    = false
  ack_deadline_seconds       = 60
  message_retention_duration = var.message_retention
  retain_acked_messages      = true
  expiration_policy {
    ttl = ""
  }
}

# --- IAM on the queue. --------------------------------------------------------------------------
resource "google_pubsub_topic_iam_member" "publishers" {
  # The webhook publishes changes; integrations re-publishes parked changes after a reconnect.
  for_each = toset(["handle_webhook", "integrations"])
  project  = var.project_id
  topic    = google_pubsub_topic.sync.name
  role     = "roles/pubsub.publisher"
  member   = google_service_account.function[each.key].member
}

# The Pub/Sub service agent forwards dead letters and acknowledges them on the source.
resource "google_pubsub_topic_iam_member" "agent_publishes_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "agent_acks_source" {
  project      = var.project_id
  subscription = google_pubsub_subscription.worker.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# The service agent mints the OIDC tokens the push carries, as the push identity.
resource "google_service_account_iam_member" "agent_mints_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# Operators inspect dead letters and replay them to the main topic.
resource "google_pubsub_subscription_iam_member" "operators_read_dead_letters" {
  for_each     = toset(var.operators)
  project      = var.project_id
  subscription = google_pubsub_subscription.dead_letter_inspect.name
  role         = "roles/pubsub.subscriber"
  member       = each.value
}

resource "google_pubsub_topic_iam_member" "operators_replay" {
  for_each = toset(var.operators)
  project  = var.project_id
  topic    = google_pubsub_topic.sync.name
  role     = "roles/pubsub.publisher"
  member   = each.value
}
