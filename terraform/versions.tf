terraform {
  required_version = ">= 1.5.0"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0.0, < 8.0.0"
    }
    # google_project_service_identity (the Pub/Sub service agent on a fresh project) is beta-only.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.0.0, < 8.0.0"
    }
    # >= 2.4.2: archives from `source` blocks; an empty archive is an error instead of a silent zip.
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4.2, < 3.0.0"
    }
    # time_sleep: let the build account's IAM grants propagate before the first build.
    time = {
      source  = "hashicorp/time"
      version = ">= 0.9.0, < 1.0.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}
