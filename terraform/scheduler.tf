# §9, §7 and §10.4 housekeeping: every maintenance_schedule, one message on the bulk topic makes
# the worker renew expiring Calendar channels, run due drift scans, flush stale notification
# outboxes, expire snapshots, continue stalled disconnects and try the usage_limited calendars
# whose retry is due (the period is those retries' granularity). It runs whatever DRIFT_POLICY
# says (the other work remains).
#
# A Pub/Sub target publishes as the Cloud Scheduler service agent
# (service-<number>@gcp-sa-cloudscheduler.iam.gserviceaccount.com), whose role
# roles/cloudscheduler.serviceAgent - granted by Google when the API is enabled - includes
# pubsub.topics.publish; no grant on the topic is needed.
resource "google_cloud_scheduler_job" "maintenance" {
  project     = var.project_id
  region      = var.region
  name        = "${var.prefix}-maintenance"
  description = "Calendar channel renewal, drift scans, notification outbox flush, snapshot expiry (${var.prefix})."
  schedule    = var.maintenance_schedule
  time_zone   = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.bulk.id
    data       = base64encode(local.maintenance_message)
  }

  retry_config {
    retry_count = 0 # the next tick is the retry
  }

  depends_on = [google_project_service.apis]
}

locals {
  maintenance_message = "{\"schema\":1,\"kind\":\"maintenance\"}"
}
