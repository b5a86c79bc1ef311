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

# OAuth state documents (connect flow) expire on their own.
resource "google_firestore_field" "oauth_state_ttl" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "oauth_states"
  field      = "expires_at"
  ttl_config {}
}

# The queries the code runs (parked changes of a connection; mappings by sync time) use
# Firestore's automatic single-field indexes, so no composite index is needed.
