# Topics (docs/webhooks.md, docs/snapshots.md, docs/notifications.md, docs/configuration.md#operations),
# all named from SYNC_TOPIC, their messages kept in the region.
locals {
  topics = {
    sync                      = var.topic_name
    dead_letter               = "${var.topic_name}-dead-letter"
    bulk                      = "${var.topic_name}-bulk"
    notifications             = "${var.topic_name}-notifications"
    notifications_dead_letter = "${var.topic_name}-notifications-dead-letter"
  }
}

resource "google_pubsub_topic" "sync" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; changes hold appointments, not regulated data, and CMEK would add a KMS dependency to the hot path.
  project                    = var.project_id
  name                       = local.topics.sync
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
  name    = local.topics.dead_letter
  labels  = var.labels
  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }
  depends_on = [google_project_service.apis]
}

# §7: bulk work (snapshot events, reconcile deletes, calendar-switch moves, the maintenance
# tick) has a lane of its own, so a 100,000-event backfill never holds up a live webhook.
resource "google_pubsub_topic" "bulk" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption, as for the main topic.
  project                    = var.project_id
  name                       = local.topics.bulk
  labels                     = var.labels
  message_retention_duration = var.message_retention
  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }
  depends_on = [google_project_service.apis]
}

# §8: connection and event notifications to the platform.
resource "google_pubsub_topic" "notifications" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; notifications carry ids and states, never titles or tokens.
  project                    = var.project_id
  name                       = local.topics.notifications
  labels                     = var.labels
  message_retention_duration = var.message_retention
  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }
  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "notifications_dead_letter" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption, as for the notifications topic.
  project = var.project_id
  name    = local.topics.notifications_dead_letter
  labels  = var.labels
  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }
  depends_on = [google_project_service.apis]
}

# --- Push subscriptions. ----------------------------------------------------------------------
# The push targets are HTTP functions behind self-managed push subscriptions (an Eventarc
# trigger's subscription cannot be ordered). Ordering is on; correctness does not depend on it.
# Endpoint and OIDC audience are the function's deterministic run.app URL, the very value the
# function receives as PUSH_AUDIENCE (functions.tf), so the token check compares equal strings.
resource "google_pubsub_subscription" "worker" {
  project                    = var.project_id
  name                       = "${var.topic_name}-worker"
  topic                      = google_pubsub_topic.sync.id
  labels                     = var.labels
  enable_message_ordering    = true
  ack_deadline_seconds       = var.functions["sync_worker"].timeout_seconds
  message_retention_duration = var.message_retention

  push_config {
    push_endpoint = local.push_env.sync_worker.PUSH_AUDIENCE
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.push_env.sync_worker.PUSH_AUDIENCE
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

  depends_on = [google_cloudfunctions2_function.function]
}

# §7: the bulk lane, to the same worker, same identity, retries and dead letters as the live one.
resource "google_pubsub_subscription" "bulk_worker" {
  project                    = var.project_id
  name                       = "${var.topic_name}-bulk-worker"
  topic                      = google_pubsub_topic.bulk.id
  labels                     = var.labels
  enable_message_ordering    = true
  ack_deadline_seconds       = var.functions["sync_worker"].timeout_seconds
  message_retention_duration = var.message_retention

  push_config {
    push_endpoint = local.push_env.sync_worker.PUSH_AUDIENCE
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.push_env.sync_worker.PUSH_AUDIENCE
    }
  }

  retry_policy {
    minimum_backoff = var.retry_backoff.minimum
    maximum_backoff = var.retry_backoff.maximum
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.bulk_max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_cloudfunctions2_function.function]
}

# §8: notifications, ordered per connection ({account_id}/{user_id}), to deliver_notification.
resource "google_pubsub_subscription" "notifications_deliver" {
  project                    = var.project_id
  name                       = "${var.topic_name}-notifications-deliver"
  topic                      = google_pubsub_topic.notifications.id
  labels                     = var.labels
  enable_message_ordering    = true
  ack_deadline_seconds       = var.functions["deliver_notification"].timeout_seconds
  message_retention_duration = var.message_retention

  push_config {
    push_endpoint = local.push_env.deliver_notification.PUSH_AUDIENCE
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.push_env.deliver_notification.PUSH_AUDIENCE
    }
  }

  retry_policy {
    minimum_backoff = var.retry_backoff.minimum
    maximum_backoff = var.retry_backoff.maximum
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.notifications_dead_letter.id
    max_delivery_attempts = var.notification_max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_cloudfunctions2_function.function]
}

# --- Dead-letter inspection. ------------------------------------------------------------------
# Keep dead letters for inspection and replay (python -m sync.ops dead-letters …). Unordered,
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

resource "google_pubsub_subscription" "notifications_dead_letter_inspect" {
  project                    = var.project_id
  name                       = "${var.topic_name}-notifications-dead-letter-inspect"
  topic                      = google_pubsub_topic.notifications_dead_letter.id
  labels                     = var.labels
  enable_message_ordering    = false
  ack_deadline_seconds       = 60
  message_retention_duration = var.message_retention
  retain_acked_messages      = true
  expiration_policy {
    ttl = ""
  }
}

# --- IAM on the queues. -----------------------------------------------------------------------
locals {
  # topic key -> the functions that publish to it
  publishers = {
    # The webhook publishes changes; integrations re-publishes parked changes after a reconnect,
    # and the worker after a usage_limited calendar takes writes again (its maintenance task
    # sync/limits/retry.py hands the other parked changes back on the live lane).
    sync = ["handle_webhook", "integrations", "sync_worker"]
    # integrations: snapshot pages, reconcile deletes, calendar-switch moves; the worker fans a
    # snapshot page out into per-event messages.
    bulk = ["integrations", "sync_worker"]
    # Connection transitions (integrations, worker) and event outcomes (worker).
    notifications = ["integrations", "sync_worker"]
  }
  topic_publishers = merge([
    for topic, fns in local.publishers : { for fn in fns : "${topic}/${fn}" => { topic = topic, fn = fn } }
  ]...)
  topic_names = {
    sync          = google_pubsub_topic.sync.name
    bulk          = google_pubsub_topic.bulk.name
    notifications = google_pubsub_topic.notifications.name
  }
}

resource "google_pubsub_topic_iam_member" "function_publishes" {
  for_each = local.topic_publishers
  project  = var.project_id
  topic    = local.topic_names[each.value.topic]
  role     = "roles/pubsub.publisher"
  member   = google_service_account.function[each.value.fn].member
}

moved {
  from = google_pubsub_topic_iam_member.publishers["handle_webhook"]
  to   = google_pubsub_topic_iam_member.function_publishes["sync/handle_webhook"]
}

moved {
  from = google_pubsub_topic_iam_member.publishers["integrations"]
  to   = google_pubsub_topic_iam_member.function_publishes["sync/integrations"]
}

# The Pub/Sub service agent forwards dead letters and acknowledges them on the source.
resource "google_pubsub_topic_iam_member" "agent_publishes_dead_letters" {
  for_each = {
    sync          = google_pubsub_topic.dead_letter.name
    notifications = google_pubsub_topic.notifications_dead_letter.name
  }
  project = var.project_id
  topic   = each.value
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

moved {
  from = google_pubsub_topic_iam_member.agent_publishes_dead_letters
  to   = google_pubsub_topic_iam_member.agent_publishes_dead_letters["sync"]
}

resource "google_pubsub_subscription_iam_member" "agent_acks_source" {
  for_each = {
    worker                = google_pubsub_subscription.worker.name
    bulk_worker           = google_pubsub_subscription.bulk_worker.name
    notifications_deliver = google_pubsub_subscription.notifications_deliver.name
  }
  project      = var.project_id
  subscription = each.value
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

moved {
  from = google_pubsub_subscription_iam_member.agent_acks_source
  to   = google_pubsub_subscription_iam_member.agent_acks_source["worker"]
}

# The service agent mints the OIDC tokens the pushes carry, as the push identity; the grant is
# on the push SA alone. No IAM Credentials API is needed in this project for that: the agent
# signs inside Google (and nothing else here mints tokens), so iamcredentials stays disabled.
resource "google_service_account_iam_member" "agent_mints_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# Operators inspect dead letters and replay them to the topic they came from.
locals {
  operator_dead_letters = merge([
    for member in var.operators : {
      "sync/${member}"          = { member = member, subscription = google_pubsub_subscription.dead_letter_inspect.name, topic = google_pubsub_topic.sync.name }
      "notifications/${member}" = { member = member, subscription = google_pubsub_subscription.notifications_dead_letter_inspect.name, topic = google_pubsub_topic.notifications.name }
    }
  ]...)
}

resource "google_pubsub_subscription_iam_member" "operators_read_dead_letters" {
  for_each     = local.operator_dead_letters
  project      = var.project_id
  subscription = each.value.subscription
  role         = "roles/pubsub.subscriber"
  member       = each.value.member
}

resource "google_pubsub_topic_iam_member" "operators_replay" {
  for_each = local.operator_dead_letters
  project  = var.project_id
  topic    = each.value.topic
  role     = "roles/pubsub.publisher"
  member   = each.value.member
}
