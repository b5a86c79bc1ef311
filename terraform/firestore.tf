resource "google_firestore_database" "default" {
  project                           = var.project_id
  name                              = "(default)"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"
  depends_on                        = [google_project_service.apis]
}

# Documents that expire on their own. A TTL policy applies to one collection group and does
# not delete subcollections, so each snapshot subcollection has its own policy.
locals {
  ttl_fields = {
    oauth_states     = "expires_at" # OAuth state of the connect flow
    flow_sessions    = "expires_at" # browser sessions of the connect flow
    snapshots        = "purge_at"   # §7: one document per snapshot …
    snapshot_events  = "purge_at"   # … and its subcollections
    snapshot_results = "purge_at"
    snapshot_shards  = "purge_at"
    snapshot_pages   = "purge_at"   # each page's ids and versions, and the reconcile's delete chunks
    calendar_moves   = "purge_at"   # §7: progress of a connection's latest calendar switch
    drift_channels   = "expires_at" # §9: a channel's lookup entry, useless once Google stops pinging
  }
  # Event bodies kept on a mapping (a parked change; the last applied one, for drift repair)
  # are never queried: no index entries for them (fewer writes, no per-field index limits).
  unindexed_event_fields = toset(["parked", "applied"])
}

resource "google_firestore_field" "ttl" {
  for_each   = local.ttl_fields
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = each.key
  field      = each.value
  ttl_config {}
}

resource "google_firestore_field" "unindexed" {
  for_each   = local.unindexed_event_fields
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "events"
  field      = each.key
  # An empty index_config removes the field's automatic single-field indexes.
  index_config {}
}

moved {
  from = google_firestore_field.oauth_state_ttl
  to   = google_firestore_field.ttl["oauth_states"]
}

# The queries the code runs (parked changes of a connection; mappings by sync time; connections
# whose usage-limit retry is due: a range and an order on usage_retry_at alone) use Firestore's
# automatic single-field indexes, so no composite index is needed. notification_outbox
# needs no TTL (the maintenance tick flushes it). Should a new query need a composite index,
# Firestore's FAILED_PRECONDITION error names it; add it here as google_firestore_index.
