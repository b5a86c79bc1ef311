# --- The custom domain front (only with var.custom_domain; off by default). ----------------------
# A global external Application Load Balancer (EXTERNAL_MANAGED) on one reserved IPv4 address:
#
#   https://<domain>/webhook   -> handle_webhook   (Cloud Armor policy "webhook")
#   https://<domain>/*         -> integrations     (Cloud Armor policy "integrations": armor.tf)
#   http://<domain>/*          -> 308 to https, query kept (nothing is served over plain http)
#
# Each function is reached through a serverless NEG. A gen2 function is a Cloud Run service of
# the same name, and Google's serverless NEG overview lists "Cloud Run functions (2nd gen)" under
# the Cloud Run NEG type (the cloud_function block is for 1st gen), so each NEG names the
# function's Cloud Run service. With the front on, both functions take ingress
# ALLOW_INTERNAL_AND_GCLB (functions.tf): their run.app URLs stop answering the internet, so
# Cloud Armor cannot be walked around. The Pub/Sub push targets (sync_worker,
# deliver_notification) are not behind it: Pub/Sub pushes to their run.app URLs with OIDC.
#
# The certificate is Google-managed: it provisions only once <domain> resolves to the address
# (output dns_records), typically within an hour of the DNS change (README: "Custom domain").
locals {
  edge_functions = local.edge ? toset(["handle_webhook", "integrations"]) : toset([])
  webhook_path   = "/webhook"
}

# Load balancing and Cloud Armor live in the Compute Engine API, enabled only with the front:
# enabling it in a project that does not need it creates a default network and a default
# Compute service account for nothing.
resource "google_project_service" "edge" {
  count              = local.edge ? 1 : 0
  project            = var.project_id
  service            = "compute.googleapis.com"
  disable_on_destroy = false
  depends_on         = [google_project_service.apis]
}

resource "google_compute_global_address" "edge" {
  count        = local.edge ? 1 : 0
  project      = var.project_id
  name         = "${var.prefix}-edge"
  address_type = "EXTERNAL"
  ip_version   = "IPV4"
  labels       = var.labels
  depends_on   = [google_project_service.edge]
}

resource "google_compute_region_network_endpoint_group" "edge" {
  for_each              = local.edge_functions
  project               = var.project_id
  name                  = "${local.function_names[each.key]}-neg"
  region                = var.region
  network_endpoint_type = "SERVERLESS"
  cloud_run {
    # service_config.service is the full "projects/…/locations/…/services/<name>" (the IAM
    # resources accept that form); a serverless NEG takes the bare RFC 1035 service name.
    service = reverse(split("/", google_cloudfunctions2_function.function[each.key].service_config[0].service))[0]
  }
  depends_on = [google_project_service.edge]
}

# Serverless NEG backends take no health check or port name; no timeout is set (the function's
# own timeout bounds a request). Request logs: see google_logging_project_exclusion.edge_query_strings.
resource "google_compute_backend_service" "edge" {
  for_each              = local.edge_functions
  project               = var.project_id
  name                  = local.function_names[each.key]
  load_balancing_scheme = "EXTERNAL_MANAGED"
  security_policy       = each.key == "integrations" ? google_compute_security_policy.integrations[0].self_link : google_compute_security_policy.webhook[0].self_link
  backend {
    group = google_compute_region_network_endpoint_group.edge[each.key].id
  }
  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

resource "google_compute_url_map" "edge" {
  count           = local.edge ? 1 : 0
  project         = var.project_id
  name            = "${var.prefix}-edge"
  default_service = google_compute_backend_service.edge["integrations"].id
  host_rule {
    hosts        = [var.custom_domain]
    path_matcher = "sync"
  }
  path_matcher {
    name            = "sync"
    default_service = google_compute_backend_service.edge["integrations"].id
    # handle_webhook reads no path: the platform POSTs to https://<domain>/webhook.
    path_rule {
      paths   = [local.webhook_path]
      service = google_compute_backend_service.edge["handle_webhook"].id
    }
  }
}

resource "google_compute_managed_ssl_certificate" "edge" {
  count   = local.edge ? 1 : 0
  project = var.project_id
  # Named by the domain, so a new domain gets a new certificate before the old one is dropped.
  name = "${var.prefix}-${substr(sha256(var.custom_domain), 0, 12)}"
  managed {
    domains = [var.custom_domain]
  }
  lifecycle {
    create_before_destroy = true
  }
  depends_on = [google_project_service.edge]
}

# TLS 1.2 or newer, MODERN cipher profile (no RSA key exchange, no 3DES, no CBC-SHA1).
resource "google_compute_ssl_policy" "edge" {
  count           = local.edge ? 1 : 0
  project         = var.project_id
  name            = "${var.prefix}-edge"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
  depends_on      = [google_project_service.edge]
}

resource "google_compute_target_https_proxy" "edge" {
  count            = local.edge ? 1 : 0
  project          = var.project_id
  name             = "${var.prefix}-edge"
  url_map          = google_compute_url_map.edge[0].id
  ssl_certificates = [google_compute_managed_ssl_certificate.edge[0].id]
  ssl_policy       = google_compute_ssl_policy.edge[0].id
}

resource "google_compute_global_forwarding_rule" "edge_https" {
  count                 = local.edge ? 1 : 0
  project               = var.project_id
  name                  = "${var.prefix}-edge-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_protocol           = "TCP"
  ip_address            = google_compute_global_address.edge[0].address
  port_range            = "443"
  target                = google_compute_target_https_proxy.edge[0].id
  labels                = var.labels
}

# Plain http only redirects. 308 keeps the method and body (a 301 turns a POST into a GET); the
# query is kept, so a connect link typed with http:// still works (the platform links https).
resource "google_compute_url_map" "edge_redirect" {
  count   = local.edge ? 1 : 0
  project = var.project_id
  name    = "${var.prefix}-edge-redirect"
  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "PERMANENT_REDIRECT"
    strip_query            = false
  }
  depends_on = [google_project_service.edge]
}

resource "google_compute_target_http_proxy" "edge_redirect" {
  count   = local.edge ? 1 : 0
  project = var.project_id
  name    = "${var.prefix}-edge-redirect"
  url_map = google_compute_url_map.edge_redirect[0].id
}

resource "google_compute_global_forwarding_rule" "edge_http" {
  count                 = local.edge ? 1 : 0
  project               = var.project_id
  name                  = "${var.prefix}-edge-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_protocol           = "TCP"
  ip_address            = google_compute_global_address.edge[0].address
  port_range            = "80"
  target                = google_compute_target_http_proxy.edge_redirect[0].id
  labels                = var.labels
}

# The load balancer logs every request's full URL, query string included: /connect?token=<link
# token> and /oauth/callback?code=…&state=… would put a credential in Cloud Logging, which
# nothing in this service may do. Those entries are dropped before they are stored (the _Default
# sink's exclusion); the functions still log each request without its query, and Cloud Armor's
# verdicts stay countable in Monitoring (networksecurity.googleapis.com metrics). Webhook and
# API URLs carry no query worth keeping out, and their entries are kept.
resource "google_logging_project_exclusion" "edge_query_strings" {
  count       = local.edge ? 1 : 0
  project     = var.project_id
  name        = "${var.prefix}-edge-query-strings"
  description = "Load balancer entries whose URL has a query string (link tokens, OAuth codes and state)."
  filter      = "resource.type=\"http_load_balancer\" AND (resource.labels.url_map_name=\"${google_compute_url_map.edge[0].name}\" OR resource.labels.url_map_name=\"${google_compute_url_map.edge_redirect[0].name}\") AND httpRequest.requestUrl:\"?\""
}
