"""Everything the service keeps about a person, where, and for how long: the inventory the
data-use policy page (``/privacy``, sync/web/privacy.py) is rendered from.

Durations come from the constants and settings the service runs with (TTLs in code, the
deployment's Pub/Sub retention, the Calendar channel lifetime). Collection names are written
here as literals so that serving the page loads no Firestore client; tests/unit/test_privacy.py
holds them equal to the code's own constants and to Terraform's TTL policies, and the end-to-end
inventory test walks the emulator after real traffic: a collection or a field the code stores
that is not listed here fails the build, so the page cannot silently fall behind the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sync.config import Settings
from sync.snapshots.model import CATEGORIES
from sync.snapshots.model import PURGE_AFTER as SNAPSHOT_PURGE_AFTER
from sync.web.session import LIFETIME_SECONDS

# sync/moves/service.py PURGE_AFTER (that module loads the Firestore client; the tests compare).
MOVE_PURGE_AFTER = timedelta(days=8)
# Cloud Logging keeps the _Default bucket's entries this long unless the deployer changes it.
LOG_RETENTION_DAYS = 30

FIRESTORE, SECRET_MANAGER, PUBSUB, LOGGING = "firestore", "secret_manager", "pubsub", "logging"


@dataclass(frozen=True)
class Kept:
    """How long: while connected, a time-to-live, until sent, or a fixed retention."""

    kind: str  # "connected" | "ttl" | "until_sent" | "until_disconnected" | "retention"
    seconds: float = 0.0


@dataclass(frozen=True)
class Item:
    key: str
    where: str
    collections: tuple[str, ...]  # Firestore collection ids (collection groups), if where is Firestore
    fields: frozenset[str]  # the documents' top-level fields
    kept: Kept
    ttl_field: str | None  # the field a Firestore TTL policy deletes the documents by (terraform/firestore.tf)
    what: dict[str, str]  # language -> what it is
    why: dict[str, str]  # language -> why it is kept
    contents: bool = False  # holds appointment contents (title, description, guests, …)
    local_only: bool = False  # the local stack's stand-in for a cloud store; never in a deployment


def _f(*names: str) -> frozenset[str]:
    return frozenset(names)


def inventory(settings: Settings) -> tuple[Item, ...]:
    from sync.connections.flow import STATE_SECONDS

    queue = settings.queue_retention_seconds
    return (
        Item("connection", FIRESTORE, ("connections",),
             _f("account_id", "user_id", "status", "calendar_id", "token_ref", "google_email", "updated_at",
                "status_changed_at", "activated_at", "disconnected_at", "pending_token_ref",
                "pending_google_email", "pending_at", "latest_snapshot_id", "disconnect_id", "disconnect_requested_at",
                "forgetting_snapshots", "usage_retry_at", "usage_retry_step", "usage_retry_lease",
                "usage_retry_lease_until", "usage_resuming", "can_host_meet"),
             Kept("connected"), None,
             {"pt-BR": "Sua conexão: os identificadores da sua conta e do seu usuário na Evolutto, o endereço da "
                       "conta Google conectada, o identificador da agenda escolhida, o estado (ativa, precisa "
                       "reconectar, agenda indisponível, limitada pelo Google, desconectada) e quando mudou (e, "
                       "enquanto o Google limita a agenda, quando tentaremos de novo), se a agenda aceita Google "
                       "Meet, e uma referência ao token.",
              "en": "Your connection: your Evolutto account and user ids, the connected Google account's address, "
                    "the chosen calendar's id, its state (active, needs reconnecting, calendar unavailable, "
                    "limited by Google, disconnected) and when it changed (and, while Google limits the calendar, "
                    "when it is tried again), whether the calendar can host Google Meet, and a reference to the "
                    "token."},
             {"pt-BR": "Para saber em qual agenda escrever e mostrar a você e à Evolutto o estado da integração.",
              "en": "To know which calendar to write to, and to show you and Evolutto how the integration is doing."}),
        Item("token", SECRET_MANAGER, (), _f(), Kept("connected"), None,
             {"pt-BR": "O token de acesso contínuo (refresh token) que o Google concede quando você autoriza, "
                       "guardado cifrado no Secret Manager; o banco de dados guarda só uma referência a ele.",
              "en": "The lasting access token (refresh token) Google grants when you allow access, kept encrypted "
                    "in Secret Manager; the database keeps only a reference to it."},
             {"pt-BR": "Para escrever na sua agenda quando um compromisso muda, sem pedir que você entre de novo. "
                       "Ao reconectar, o token anterior é destruído assim que o novo está em uso.",
              "en": "To write to your calendar whenever an appointment changes, without asking you to sign in "
                    "again. On a reconnect the previous token is destroyed once the new one is in use."}),
        Item("local_token", FIRESTORE, ("local_tokens",), _f("secret", "token"), Kept("connected"), None,
             {"pt-BR": "Token no ambiente local de desenvolvimento.", "en": "Token in the local development stack."},
             {"pt-BR": "Substitui o Secret Manager localmente.", "en": "Stands in for Secret Manager locally."},
             local_only=True),
        Item("mapping", FIRESTORE, ("events",),
             _f("event_id", "google_event_id", "version", "deleted", "google_exists", "google_uncertain",
                "calendar_id", "last_error", "error_at", "synced_at", "lease_id", "lease_version", "lease_until",
                "parked_version", "has_parked", "etag", "ends_at", "open_ended", "conference_version",
                "conference_state", "conference_id", "conference_checks", "conference_chain", "notify",
                "attempted"),
             Kept("connected"), None,
             {"pt-BR": "Para cada compromisso sincronizado: o identificador dele na Evolutto e no Google, a "
                       "versão aplicada, quando foi sincronizado, se foi removido, quando termina, o último "
                       "erro que o Google devolveu para ele, com Google Meet, o código da reunião e em que pé "
                       "está a criação dela, e a quem o Google avisa das mudanças (ninguém, convidados externos "
                       "ou todos).",
              "en": "For each synced appointment: its id on Evolutto and on Google, the version applied, when it "
                    "was synced, whether it was deleted, when it ends, the last error Google returned for it, "
                    "with Google Meet, the meeting's code and how far its creation is, and whom Google tells of its "
                    "changes (nobody, external guests or everyone)."},
             {"pt-BR": "Para aplicar cada mudança uma única vez e na ordem certa, sem duplicar eventos.",
              "en": "To apply every change exactly once and in order, without duplicating events."}),
        Item("event_bodies", FIRESTORE, ("events",), _f("applied", "parked"), Kept("connected"), None,
             {"pt-BR": "O conteúdo do compromisso como a Evolutto o enviou (título, horário, descrição, local, "
                       "links, convidados, lembretes): a última versão aplicada e, enquanto a conexão não "
                       "funciona, a mudança que espera para ser aplicada.",
              "en": "The appointment's contents as Evolutto sent them (title, times, description, location, links, "
                    "guests, reminders): the last version applied and, while the connection is not working, "
                    "the change waiting to be applied."},
             {"pt-BR": "Para desfazer edições feitas à mão no Google Agenda (o compromisso é restaurado como "
                       "estava na Evolutto) e para aplicar, quando você reconectar, as mudanças que chegaram "
                       "enquanto o acesso estava interrompido.",
              "en": "To undo edits made by hand in Google Calendar (the appointment is put back as it is on "
                    "Evolutto) and to apply, once you reconnect, the changes that arrived while access was broken."},
             contents=True),
        Item("oauth_state", FIRESTORE, ("oauth_states",),
             _f("sid_hash", "account_id", "user_id", "verifier", "expires_at"),
             Kept("ttl", STATE_SECONDS), "expires_at",
             {"pt-BR": "O estado de uma conexão em andamento: valores aleatórios que ligam a resposta do Google "
                       "ao seu navegador (guardados como hash), e os seus identificadores na Evolutto.",
              "en": "The state of a connection in progress: random values that tie Google's answer to your "
                    "browser (kept hashed), and your Evolutto ids."},
             {"pt-BR": "Para que só o navegador que começou a conexão possa terminá-la. É apagado ao ser usado.",
              "en": "So that only the browser that started the connection can finish it. Deleted once used."}),
        Item("flow_session", FIRESTORE, ("flow_sessions",),
             _f("account_id", "user_id", "state", "expires_at", "created_at", "token_ref", "google_email",
                "authorized_at", "used_at"),
             Kept("ttl", LIFETIME_SECONDS), "expires_at",
             {"pt-BR": "A sessão de conexão do seu navegador: em que passo está, a conta Google autorizada nela "
                       "e uma referência ao token obtido.",
              "en": "Your browser's connect session: which step it is at, the Google account authorized in it and "
                    "a reference to the token obtained."},
             {"pt-BR": "Para que a escolha da agenda valha só para quem autorizou o acesso, uma única vez.",
              "en": "So that the calendar choice counts only for whoever allowed access, and only once."}),
        Item("drift", FIRESTORE, ("drift", "drift_pending"),
             _f("account_id", "user_id", "sync_token", "sync_calendar_id", "check_lease_id", "check_lease_until",
                "last_check_at", "next_scan_at", "channel_id", "channel_resource_id", "channel_calendar_id",
                "channel_expires_at", "channel_renew_at", "at", "check_started_at"),
             Kept("connected"), None,
             {"pt-BR": "O ponto até onde já conferimos as mudanças da agenda escolhida (o marcador de "
                       "sincronização do Google) e o canal pelo qual o Google nos avisa dessas mudanças.",
              "en": "How far we have checked the chosen calendar's changes (Google's sync marker) and the channel "
                    "through which Google tells us about them."},
             {"pt-BR": "Para perceber edições feitas à mão nos eventos da Evolutto sem reler a agenda inteira.",
              "en": "To notice hand edits to Evolutto's events without reading the whole calendar again."}),
        Item("drift_channel", FIRESTORE, ("drift_channels",),
             _f("account_id", "user_id", "token_sha256", "calendar_id", "expires_at", "last_message_number"),
             Kept("ttl", settings.drift_channel_ttl_seconds), "expires_at",
             {"pt-BR": "A quem pertence cada canal de avisos do Google (com o hash do seu segredo).",
              "en": "Whom each of Google's notification channels belongs to (with its secret's hash)."},
             {"pt-BR": "Para aceitar só avisos verdadeiros do Google.",
              "en": "To accept only genuine pings from Google."}),
        Item("drift_meta", FIRESTORE, ("drift_meta",), _f("next_at"), Kept("connected"), None,
             {"pt-BR": "Quando o serviço revisou pela última vez todas as conexões ativas (nenhum dado pessoal).",
              "en": "When the service last went over every active connection (no personal data)."},
             {"pt-BR": "Manutenção do serviço.", "en": "Service housekeeping."}),
        Item("snapshot", FIRESTORE, ("snapshots", "snapshot_pages", "snapshot_events", "snapshot_results",
                                     "snapshot_shards"),
             _f("account_id", "user_id", "as_of", "covers_from", "allow_mass_delete", "repair", "state",
                "created_at", "expires_at", "purge_at", "events", "pages_received", "started_at", "finished_at",
                "counts", "published", "published_through", "page", "event_id", "event", "version", "versions",
                "ids", "kind", "chunk", "count", "received_at", "category", "outcome", "at", "total", "pages",
                "upserts", "deletes", "delete_chunks", "live", "unchanged_at_complete", "refused_deletes", "skip",
                "skip_index", "upload", "revision",
                *CATEGORIES),
             Kept("ttl", SNAPSHOT_PURGE_AFTER.total_seconds()), "purge_at",
             {"pt-BR": "Cópias dos seus compromissos que a Evolutto envia de uma vez (uma \"fotografia\" da sua "
                       "agenda, por exemplo logo depois de conectar), com o resultado de cada um.",
              "en": "Copies of your appointments that Evolutto sends all at once (a \"snapshot\" of your agenda, "
                    "for example right after you connect), with each one's outcome."},
             {"pt-BR": "Para trazer à agenda os compromissos que já existiam e remover os que não existem mais.",
              "en": "To bring in the appointments that already existed and remove the ones that no longer do."},
             contents=True),
        Item("calendar_move", FIRESTORE, ("calendar_moves",),
             _f("account_id", "user_id", "move_id", "source", "destination", "chunks", "chunks_done", "total",
                "done", "started_at", "finished_at", "purge_at"),
             Kept("ttl", MOVE_PURGE_AFTER.total_seconds()), "purge_at",
             {"pt-BR": "O andamento da mudança dos eventos para outra agenda, quando você troca de agenda.",
              "en": "The progress of moving the events to another calendar, when you switch calendars."},
             {"pt-BR": "Para mostrar o andamento e terminar a mudança mesmo se algo falhar no meio.",
              "en": "To show the progress, and to finish the move even if something fails half way."}),
        Item("disconnect", FIRESTORE, ("disconnects",),
             _f("disconnect_id", "account_id", "user_id", "remove_events", "announce", "token_refs", "calendar_id",
                "channel", "phase", "total", "removed", "failed", "deleted_mappings", "job_seq", "requested_at",
                "updated_at", "channel_stopped", "swept", "access_lost", "sweep_at", "sweep_calendars"),
             Kept("until_disconnected"), None,
             {"pt-BR": "Enquanto uma desconexão está em andamento: os seus identificadores, referências aos tokens "
                       "a revogar, a agenda e o canal de avisos, e quantos eventos já foram removidos (nenhum "
                       "conteúdo de compromisso).",
              "en": "While a disconnect is in progress: your ids, references to the tokens to revoke, the calendar "
                    "and the notification channel, and how many events were removed so far (no appointment "
                    "contents)."},
             {"pt-BR": "Para terminar a desconexão (remover os eventos, revogar o acesso) mesmo se algo falhar no "
                       "meio, e mostrar o andamento.",
              "en": "To finish the disconnect (remove the events, revoke access) even if something fails half way, "
                    "and to show its progress."}),
        Item("notification", FIRESTORE, ("notification_outbox",),
             _f("webhook_id", "type", "account_id", "user_id", "connection_key", "ordering_key", "data",
                "timestamp"),
             Kept("until_sent"), None,
             {"pt-BR": "Avisos à Evolutto sobre a sua conexão (por exemplo \"conectada\", \"precisa reconectar\"), "
                       "com o endereço Google e o identificador da agenda, nunca o conteúdo dos compromissos.",
              "en": "Notices to Evolutto about your connection (for example \"connected\", \"needs reconnecting\"), "
                    "with the Google address and the calendar id, never the appointments' contents."},
             {"pt-BR": "Para que a Evolutto possa mostrar o estado da integração e pedir que você reconecte.",
              "en": "So Evolutto can show how the integration is doing and ask you to reconnect."}),
        Item("queue", PUBSUB, (), _f(), Kept("retention", queue), None,
             {"pt-BR": "As mudanças de compromissos a caminho da sua agenda e os avisos a caminho da Evolutto, na "
                       "fila do Google Cloud Pub/Sub (inclusive as que falharam e aguardam análise).",
              "en": "Appointment changes on their way to your calendar and notices on their way to Evolutto, in "
                    "Google Cloud Pub/Sub's queue (including those that failed and await inspection)."},
             {"pt-BR": "Para que nenhuma mudança se perca se algo falhar no caminho.",
              "en": "So that no change is lost if something fails on the way."},
             contents=True),
        Item("logs", LOGGING, (), _f(), Kept("retention", LOG_RETENTION_DAYS * 86400.0), None,
             {"pt-BR": "Registros de operação: identificadores (conta, usuário, compromisso), horários e "
                       "resultados; nos registros de requisições do Google Cloud, também o endereço IP e o "
                       "navegador de quem abriu as páginas. Nunca títulos, descrições, convidados, tokens nem o seu "
                       "endereço Google.",
              "en": "Operation logs: ids (account, user, appointment), times and outcomes; in Google Cloud's "
                    "request logs, also the IP address and browser of whoever opened the pages. Never titles, "
                    "descriptions, guests, tokens or your Google address."},
             {"pt-BR": "Para investigar e corrigir falhas.", "en": "To investigate and fix failures."}),
    )


def shown(settings: Settings) -> tuple[Item, ...]:
    """The items a deployment really has (the local stand-ins are left out)."""
    return tuple(i for i in inventory(settings) if not i.local_only)
