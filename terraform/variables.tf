variable "project_id" {
  description = "Project that hosts the whole deployment."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid Google Cloud project id."
  }
}

variable "region" {
  description = "Region of the functions, the source bucket and the Pub/Sub message storage."
  type        = string
  default     = "southamerica-east1"
}

variable "firestore_location" {
  description = "Firestore location (a region or a multi-region such as nam5)."
  type        = string
  default     = "southamerica-east1"
}

variable "prefix" {
  description = "Prefix of every resource name this module creates (functions, accounts, bucket)."
  type        = string
  default     = "evolutto-sync"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,17}[a-z0-9]$", var.prefix))
    error_message = "prefix must be 3-19 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "topic_name" {
  description = "Topic the webhook publishes to (SYNC_TOPIC); dead letters go to <topic>-dead-letter."
  type        = string
  default     = "calendar-sync"
  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9._~%+-]{2,200}$", var.topic_name))
    error_message = "topic_name must be a valid Pub/Sub topic id of at least 3 characters."
  }
}

variable "python_runtime" {
  description = "Cloud Functions runtime."
  type        = string
  default     = "python311"
  validation {
    condition     = can(regex("^python3[0-9]{2}$", var.python_runtime))
    error_message = "python_runtime is a Cloud Functions Python runtime id such as python311."
  }
}

variable "functions" {
  description = "Sizing of each function: memory, CPU, timeout (s), max instances, concurrent requests per instance."
  type = map(object({
    memory          = string
    cpu             = string
    timeout_seconds = number
    max_instances   = number
    min_instances   = number
    concurrency     = number
  }))
  default = {
    handle_webhook       = { memory = "512Mi", cpu = "1", timeout_seconds = 30, max_instances = 20, min_instances = 1, concurrency = 40 }
    sync_worker          = { memory = "512Mi", cpu = "1", timeout_seconds = 60, max_instances = 20, min_instances = 0, concurrency = 16 }
    integrations         = { memory = "512Mi", cpu = "1", timeout_seconds = 60, max_instances = 5, min_instances = 0, concurrency = 20 }
    deliver_notification = { memory = "256Mi", cpu = "1", timeout_seconds = 30, max_instances = 5, min_instances = 0, concurrency = 20 }
  }
  validation {
    condition     = length(setsubtract(["handle_webhook", "sync_worker", "integrations", "deliver_notification"], keys(var.functions))) == 0
    error_message = "functions must size handle_webhook, sync_worker, integrations and deliver_notification."
  }
  validation {
    condition     = alltrue([for f in values(var.functions) : f.timeout_seconds >= 10 && f.timeout_seconds <= 540 && f.max_instances >= 1 && f.concurrency >= 1 && f.concurrency <= 1000])
    error_message = "timeouts must be 10-540 s, max_instances at least 1, concurrency 1-1000."
  }
  validation {
    condition     = alltrue([for f in values(var.functions) : f.min_instances >= 0 && f.min_instances <= f.max_instances])
    error_message = "min_instances must be from 0 to max_instances."
  }
  # Cloud Run refuses more than one concurrent request per instance below one vCPU; the apply
  # would stop at that function, after everything before it exists.
  validation {
    condition     = alltrue([for f in values(var.functions) : can(tonumber(f.cpu)) && (f.concurrency == 1 || try(tonumber(f.cpu), 0) >= 1)])
    error_message = "cpu is a number of vCPUs (\"1\", \"0.5\"); concurrency above 1 needs cpu of at least 1."
  }
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message before it is dead-lettered."
  type        = number
  default     = 15
  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub allows 5 to 100 delivery attempts."
  }
}

variable "bulk_max_delivery_attempts" {
  description = "Deliveries of one bulk-lane message (snapshot events, reconcile deletes, calendar moves, jobs) before it is dead-lettered: higher than the live lane's, because a user's quota pacing hands bulk work back to Pub/Sub routinely."
  type        = number
  default     = 50
  validation {
    condition     = var.bulk_max_delivery_attempts >= 5 && var.bulk_max_delivery_attempts <= 100
    error_message = "Pub/Sub allows 5 to 100 delivery attempts."
  }
}

variable "notification_max_delivery_attempts" {
  description = "Deliveries of one notification to the platform before it is dead-lettered to <topic>-notifications-dead-letter."
  type        = number
  default     = 10
  validation {
    condition     = var.notification_max_delivery_attempts >= 5 && var.notification_max_delivery_attempts <= 100
    error_message = "Pub/Sub allows 5 to 100 delivery attempts."
  }
}

variable "retry_backoff" {
  description = "Exponential backoff of the push subscriptions (worker, bulk, notifications) between redeliveries."
  type = object({
    minimum = string
    maximum = string
  })
  default = { minimum = "10s", maximum = "600s" }
  # Pub/Sub takes durations of 0-600 s; a bad one fails only when the subscription is created,
  # after the functions are built.
  validation {
    condition = alltrue([for d in [var.retry_backoff.minimum, var.retry_backoff.maximum] :
    can(regex("^[0-9]+(\\.[0-9]+)?s$", d)) && try(tonumber(trimsuffix(d, "s")), 601) <= 600]) && try(tonumber(trimsuffix(var.retry_backoff.minimum, "s")) <= tonumber(trimsuffix(var.retry_backoff.maximum, "s")), false)
    error_message = "retry_backoff.minimum and .maximum are seconds with an s (\"10s\"), at most 600s, minimum not above maximum."
  }
}

variable "message_retention" {
  description = "How long Pub/Sub keeps changes and notifications (topics, unacknowledged messages, dead letters); /privacy states it (QUEUE_RETENTION_SECONDS)."
  type        = string
  default     = "604800s"
  validation {
    condition     = can(regex("^[0-9]+s$", var.message_retention)) && try(tonumber(trimsuffix(var.message_retention, "s")), 0) >= 600 && try(tonumber(trimsuffix(var.message_retention, "s")), 0) <= 604800
    error_message = "message_retention is a number of seconds with an s, from 600s to 604800s (a subscription keeps messages at most 7 days)."
  }
}

variable "send_updates" {
  description = "Calendar's sendUpdates for every write: all, externalOnly or none."
  type        = string
  default     = "none"
  validation {
    condition     = contains(["all", "externalOnly", "none"], var.send_updates)
    error_message = "send_updates must be all, externalOnly or none."
  }
}

variable "allowed_return_origins" {
  description = "Origins a link token's return_url may point to (the platform's front end)."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for o in var.allowed_return_origins : can(regex("^https://[^/]+$", o))])
    error_message = "Each origin is https://host[:port] without a path."
  }
}

variable "integrations_public_url" {
  description = "External URL of the integrations function when a gateway you run (not custom_domain) fronts it; defaults to the function's own URL. Leave it null with custom_domain."
  type        = string
  default     = null
  validation {
    condition     = var.integrations_public_url == null || can(regex("^https://[^/?#\\s]+$", var.integrations_public_url))
    error_message = "integrations_public_url is null or https://host[:port], without a path or a trailing slash."
  }
}

variable "custom_domain" {
  description = "Host name (sync.example.com) that serves handle_webhook and integrations through a global external Application Load Balancer with a Google-managed certificate and Cloud Armor (loadbalancer.tf, armor.tf). Empty keeps the functions' own run.app URLs and creates none of it."
  type        = string
  default     = ""
  validation {
    condition     = var.custom_domain == "" || (length(var.custom_domain) <= 253 && can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.custom_domain)) && !endswith(var.custom_domain, ".run.app") && !endswith(var.custom_domain, ".cloudfunctions.net"))
    error_message = "custom_domain is empty or a lower-case host name you own (no scheme, port, path or trailing dot); a run.app or cloudfunctions.net host cannot be an authorized domain."
  }
}

variable "edge_limits" {
  description = "Cloud Armor limits per client IP when custom_domain is set (README: \"Cloud Armor: the numbers\"): browser_per_minute for the connect flow and its pages, ban_seconds for an IP that keeps exceeding it, calendar_quota_per_minute (the project's Calendar API quota, as granted) sizes the machine routes: Google's pings, the platform's webhooks and API calls."
  type = object({
    browser_per_minute        = optional(number, 120)
    ban_seconds               = optional(number, 900)
    calendar_quota_per_minute = optional(number, 10000)
  })
  default = {}
  validation {
    condition     = floor(var.edge_limits.browser_per_minute) == var.edge_limits.browser_per_minute && var.edge_limits.browser_per_minute >= 10 && var.edge_limits.browser_per_minute <= 10000
    error_message = "edge_limits.browser_per_minute is a whole number from 10 to 10000."
  }
  validation {
    condition     = floor(var.edge_limits.ban_seconds) == var.edge_limits.ban_seconds && var.edge_limits.ban_seconds >= 60 && var.edge_limits.ban_seconds <= 86400
    error_message = "edge_limits.ban_seconds is a whole number of seconds from 60 to 86400."
  }
  validation {
    condition     = floor(var.edge_limits.calendar_quota_per_minute) == var.edge_limits.calendar_quota_per_minute && var.edge_limits.calendar_quota_per_minute >= 600
    error_message = "edge_limits.calendar_quota_per_minute is the project's Calendar API quota per minute: a whole number, at least the per-user 600."
  }
}

variable "public_invoker" {
  description = "Principal granted run.invoker on handle_webhook and integrations (allUsers), or \"\" to grant none (domain-restricted sharing: README)."
  type        = string
  default     = "allUsers"
  validation {
    condition     = can(regex("^(|allUsers|allAuthenticatedUsers|(user|group|serviceAccount|domain|principal|principalSet):.+)$", var.public_invoker))
    error_message = "public_invoker is allUsers, allAuthenticatedUsers, an IAM member (user:, group:, serviceAccount:, domain:, principal:, principalSet:) or \"\"."
  }
}

variable "secret_locations" {
  description = "Replica locations of every secret (configuration secrets and per-user token secrets); empty means [region]."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for l in var.secret_locations : can(regex("^[a-z]+-[a-z]+[0-9]+$", l))])
    error_message = "Each location is a region such as southamerica-east1."
  }
}

variable "platform_webhook_url" {
  description = "Where notifications (docs/notifications.md) are POSTed; empty turns notifications off."
  type        = string
  default     = ""
  validation {
    condition     = var.platform_webhook_url == "" || can(regex("^https://[^/?#\\s]+(/[^\\s]*)?$", var.platform_webhook_url))
    error_message = "platform_webhook_url is empty or an https:// URL."
  }
}

variable "drift_policy" {
  description = "What the service does with hand edits in Google Calendar (docs/drift.md): restore, report or off."
  type        = string
  default     = "restore"
  validation {
    condition     = contains(["restore", "report", "off"], var.drift_policy)
    error_message = "drift_policy must be restore, report or off."
  }
}

variable "drift_scan_minutes" {
  description = "Period of the fallback drift scan of every active connection (DRIFT_SCAN_MINUTES)."
  type        = number
  default     = 360
  validation {
    condition     = var.drift_scan_minutes >= 15 && floor(var.drift_scan_minutes) == var.drift_scan_minutes
    error_message = "drift_scan_minutes is a whole number of minutes, at least 15 (the maintenance tick)."
  }
}

variable "usage_limit_retry_seconds" {
  description = "First pause before a calendar over Google's usage limits (403 quotaExceeded) is tried again; each next pause doubles, at most 2 hours (USAGE_LIMIT_RETRY_SECONDS)."
  type        = number
  default     = 900
  validation {
    condition     = var.usage_limit_retry_seconds >= 1 && var.usage_limit_retry_seconds <= 7200
    error_message = "usage_limit_retry_seconds is between 1 and 7200 (tries are never more than 2 hours apart)."
  }
}

variable "maintenance_schedule" {
  description = "Cron schedule (UTC) of the maintenance tick published to the bulk topic."
  type        = string
  default     = "*/15 * * * *"
  validation {
    condition     = length(split(" ", trimspace(var.maintenance_schedule))) == 5
    error_message = "maintenance_schedule is a five-field cron expression."
  }
}

variable "notification_channels" {
  description = "Monitoring notification channel ids (projects/…/notificationChannels/…) alerted on dead letters and backlog."
  type        = list(string)
  default     = []
}

variable "alert_oldest_unacked_seconds" {
  description = "Alert when the oldest change (or notification) waiting for its push target is older than this."
  type        = number
  default     = 900
}

variable "alert_bulk_oldest_unacked_seconds" {
  description = "Alert when the oldest bulk message (snapshot work, maintenance tick) has waited longer than this."
  type        = number
  default     = 7200
}

variable "operators" {
  description = "Members (group:ops@example.com) who may inspect and replay dead letters (changes and notifications)."
  type        = list(string)
  default     = []
}

variable "labels" {
  description = "Labels put on every resource that takes them."
  type        = map(string)
  default     = { app = "evolutto-calendar-sync" }
}
