# --- Cloud Armor in front of the two public functions (only with var.custom_domain). ------------
# One policy per backend. Rules are evaluated by priority and the first match decides; a
# throttle's "allow" for a request under its limit ends the evaluation too, so every WAF rule
# comes before every rate rule. Numbers and their reasons: README "Cloud Armor: the numbers".
#
# Where WAF rules run, and where not:
#   * browser routes (/connect, /oauth/callback, /calendars, /done, /privacy, anything unknown):
#     small GET/POST forms and query strings we control -> the preconfigured OWASP sets that fit,
#     at sensitivity 1 (the fewest false positives). Not rfi: Google's OAuth callback carries
#     scope=https://www.googleapis.com/... in its query, a textbook remote-file-inclusion match.
#   * the webhook and the platform's API (snapshot pages): bodies are appointment JSON whose
#     descriptions are free text a consultant types ("SELECT the best slot", "<b>bring</b> the
#     report", links): SQLi/XSS/RFI signatures would refuse genuine appointments. Their guards are
#     the Standard Webhooks signature and the API bearer token, checked before anything is
#     parsed; nothing behind them builds SQL or renders the text as HTML (Firestore; every page
#     escapes, with a CSP of default-src 'none'). They get rate limits only.
#   * /google/notifications: Google's pings, headers only, no body: rate limit only.
locals {
  # Client IPs of the machine routes are few and busy: Google's push senders, the platform's
  # servers. Everything else on the integrations host is a person's browser.
  armor_machine_routes = "request.path == '/google/notifications' || request.path.startsWith('/api/connections/')"
  armor_browser_routes = "!(${local.armor_machine_routes})"
  armor_waf_sets = [
    "sqli-v33-stable",
    "xss-v33-stable",
    "lfi-v33-stable",
    "rce-v33-stable",
    "methodenforcement-v33-stable", # GET, HEAD, POST, OPTIONS only: the browser routes use no other
    "scannerdetection-v33-stable",
    "protocolattack-v33-stable",
    "cve-canary", # Log4j lookups; nothing here runs Java, but it costs nothing on these routes
  ]
  # Requests per client IP per minute.
  armor_limits = {
    # A person's connect flow is about six requests (connect, consent return, calendars, save,
    # done, privacy); 120 lets an office behind one NAT run some 20 flows a minute.
    browser = var.edge_limits.browser_per_minute
    # Calendar pings follow our writes (one per change, each watching channel) and people's edits:
    # the project's Calendar quota bounds our writes, so 1.5 x it per minute is above any real
    # burst from Google's senders, whatever few IPs they use.
    notifications = ceil(var.edge_limits.calendar_quota_per_minute * 3 / 2)
    # The platform's webhooks and API calls each end in Calendar calls; twice what the quota lets
    # the queue drain in a minute is accepted (Pub/Sub absorbs it), beyond that the platform gets
    # 429 and retries later, as Standard Webhooks senders do.
    platform = var.edge_limits.calendar_quota_per_minute * 2
  }
}

resource "google_compute_security_policy" "integrations" {
  #checkov:skip=CKV_GCP_73:cve-canary is evaluated and enforced (deny 403) on the browser routes (rule 1007); checkov recognises only the unscoped expression, which would also run on the platform's API bodies, free text bound for Python code.
  count       = local.edge ? 1 : 0
  project     = var.project_id
  name        = "${var.prefix}-integrations"
  description = "integrations behind ${var.custom_domain}: WAF on the browser routes, per-IP rate limits on every route (README: Cloud Armor)."
  type        = "CLOUD_ARMOR"

  dynamic "rule" {
    for_each = local.armor_waf_sets
    content {
      action      = "deny(403)"
      priority    = 1000 + rule.key
      description = "WAF ${rule.value} on the browser routes"
      match {
        expr {
          expression = "${local.armor_browser_routes} && evaluatePreconfiguredWaf('${rule.value}', {'sensitivity': 1})"
        }
      }
    }
  }

  rule {
    action      = "throttle"
    priority    = 2000
    description = "Calendar push pings: throttle per IP"
    match {
      expr {
        expression = "request.path == '/google/notifications'"
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = local.armor_limits.notifications
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "throttle"
    priority    = 2100
    description = "Platform API (status, snapshots): throttle per IP"
    match {
      expr {
        expression = "request.path.startsWith('/api/connections/')"
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = local.armor_limits.platform
        interval_sec = 60
      }
    }
  }

  # Whatever is left is a browser route (/connect above all: each one writes the OAuth state
  # and a flow record). 429 over the limit; an IP that keeps at 10x it for 10 minutes is banned.
  rule {
    action      = "rate_based_ban"
    priority    = 3000
    description = "Browser routes (/connect, ...): limit, then ban per IP"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = local.armor_limits.browser
        interval_sec = 60
      }
      ban_threshold {
        count        = local.armor_limits.browser * 10
        interval_sec = 600
      }
      ban_duration_sec = var.edge_limits.ban_seconds
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "default rule"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }

  depends_on = [google_project_service.edge]
}

resource "google_compute_security_policy" "webhook" {
  #checkov:skip=CKV_GCP_73:No WAF expression runs on the webhook: its body is appointment JSON with free-text fields (README: Cloud Armor), verified by its Standard Webhooks signature and handled by Python code with no Log4j.
  count       = local.edge ? 1 : 0
  project     = var.project_id
  name        = "${var.prefix}-webhook"
  description = "handle_webhook behind ${var.custom_domain}${local.webhook_path}: per-IP rate limit, no body inspection (README: Cloud Armor)."
  type        = "CLOUD_ARMOR"

  # Never a ban: banning the platform's own servers would be an outage of our making.
  rule {
    action      = "throttle"
    priority    = 2000
    description = "Platform webhooks: throttle per IP"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = local.armor_limits.platform
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "default rule"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }

  depends_on = [google_project_service.edge]
}
