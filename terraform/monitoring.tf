# Every change the worker handles logs one line with its outcome (README: Operations).
resource "google_logging_metric" "sync_outcomes" {
  project = var.project_id
  name    = "${var.prefix}/sync_outcomes"
  filter  = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.function_names.sync_worker}\" AND jsonPayload.function=\"sync_worker\" AND jsonPayload.outcome:*"
  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Calendar sync outcomes"
    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "created, updated, deleted, duplicate, stale, retry, park…, failed_permanent…"
    }
  }
  label_extractors = {
    outcome = "EXTRACT(jsonPayload.outcome)"
  }
  # Nothing else here ties it to logging.googleapis.com, which is on by default only in projects
  # created through the console or gcloud (Service Usage, "Enabled services").
  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project_id
  display_name          = "${var.prefix}: changes dead-lettered"
  combiner              = "OR"
  notification_channels = var.notification_channels
  documentation {
    content   = "A change exhausted its deliveries. Inspect with `python -m sync.ops dead-letters list`, fix the cause, then `replay`."
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "dead-letter subscription has undelivered messages"
    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.dead_letter_inspect.name}\" AND metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }
}

resource "google_monitoring_alert_policy" "backlog_age" {
  project               = var.project_id
  display_name          = "${var.prefix}: changes waiting too long for the worker"
  combiner              = "OR"
  notification_channels = var.notification_channels
  documentation {
    content   = "The oldest unacknowledged change is older than ${var.alert_oldest_unacked_seconds}s: the worker is failing or throttled. Read the worker's logs (jsonPayload.outcome=\"retry\")."
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "oldest unacked message age"
    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.worker.name}\" AND metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_oldest_unacked_seconds
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }
}

# --- §7 bulk lane and §8 notifications. -------------------------------------------------------
resource "google_monitoring_alert_policy" "bulk_backlog_age" {
  project               = var.project_id
  display_name          = "${var.prefix}: bulk work (snapshots, maintenance) stuck"
  combiner              = "OR"
  notification_channels = var.notification_channels
  documentation {
    content   = "The oldest bulk message is older than ${var.alert_bulk_oldest_unacked_seconds}s: a backfill is throttled or the worker fails on bulk work (snapshot events, reconcile deletes, calendar moves, the maintenance tick). Read the worker's logs."
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "oldest unacked bulk message age"
    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.bulk_worker.name}\" AND metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_bulk_oldest_unacked_seconds
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }
}

resource "google_monitoring_alert_policy" "notification_dead_letters" {
  project               = var.project_id
  display_name          = "${var.prefix}: notifications to the platform dead-lettered"
  combiner              = "OR"
  notification_channels = var.notification_channels
  documentation {
    content   = "A notification exhausted its deliveries to PLATFORM_WEBHOOK_URL (the platform refused or was down). Inspect with `python -m sync.ops dead-letters list --topic notifications`, fix the cause, then `replay`."
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "notification dead-letter subscription has undelivered messages"
    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.notifications_dead_letter_inspect.name}\" AND metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }
}

resource "google_monitoring_alert_policy" "notification_backlog_age" {
  project               = var.project_id
  display_name          = "${var.prefix}: notifications waiting too long for the platform"
  combiner              = "OR"
  notification_channels = var.notification_channels
  documentation {
    content   = "The oldest undelivered notification is older than ${var.alert_oldest_unacked_seconds}s: the platform's webhook endpoint is failing or slow. Read deliver_notification's logs."
    mime_type = "text/markdown"
  }
  conditions {
    display_name = "oldest unacked notification age"
    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.notifications_deliver.name}\" AND metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_oldest_unacked_seconds
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }
}
