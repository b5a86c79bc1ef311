"""The flow's HTML pages: Portuguese (pt-BR) by default, English by Accept-Language.

No external asset: one inline stylesheet allowed by a per-response CSP nonce; forms post only
to ourselves (and, through the redirect that follows, to the allowed return origins).
"""

from __future__ import annotations

import html
import secrets
from datetime import datetime, timezone
from typing import Any

TEXT = {
    "pt-BR": {
        "title": "Integração com o Google Agenda",
        "choose_title": "Escolha a agenda",
        "choose_intro": "Conectado como {email}. Os compromissos da Evolutto serão criados, alterados e "
                        "removidos automaticamente na agenda que você escolher.",
        "legend": "Agendas em que você pode escrever",
        "primary": "principal",
        "save": "Salvar e sincronizar",
        "none": "Nenhuma agenda desta conta permite escrita. Conecte outra conta Google.",
        "done_title": "Tudo pronto",
        "done_body": "Seus compromissos da Evolutto agora aparecem no Google Agenda.",
        "back": "Voltar para a Evolutto",
        "again": "Tente de novo a partir da aba Integrações externas da Evolutto.",
        "expired_title": "Link expirado ou inválido",
        "expired_body": "Este link de conexão não é mais válido.",
        "session_title": "Sessão expirada",
        "session_body": "Sua sessão de conexão expirou ou não foi encontrada.",
        "state_title": "Não foi possível concluir a conexão",
        "state_body": "A resposta do Google não corresponde a uma conexão iniciada neste navegador, ou já foi usada.",
        "denied_title": "Conexão cancelada",
        "denied_body": "Você não autorizou o acesso ao Google Agenda. Nada foi alterado.",
        "scopes_title": "Permissões incompletas",
        "scopes_body": "Para sincronizar, autorize as duas permissões pedidas: ver a lista de agendas e "
                       "gerenciar eventos.",
        "no_refresh_title": "O Google não concedeu acesso contínuo",
        "no_refresh_body": "Remova o acesso da Evolutto em myaccount.google.com/permissions e conecte de novo.",
        "csrf_title": "Pedido recusado",
        "csrf_body": "O formulário expirou ou não veio desta página.",
        "calendar_title": "Agenda indisponível",
        "calendar_body": "Esta agenda não existe ou você não pode escrever nela. Escolha outra.",
        "return_title": "Endereço de retorno não permitido",
        "return_body": "O link pede para voltar a um endereço que não é da Evolutto.",
        "unavailable_title": "Serviço indisponível no momento",
        "unavailable_body": "O Google não respondeu. Tente novamente em alguns minutos.",
        "not_found_title": "Página não encontrada",
        "not_found_body": "Este endereço não existe.",
        "disconnecting_title": "Desconexão em andamento",
        "disconnecting_body": "Ainda estamos removendo os eventos da conexão anterior do Google Agenda. "
                              "Tente de novo em alguns minutos.",
        "method_title": "Pedido não permitido",
        "method_body": "Esta página só pode ser aberta no navegador.",
        "usage_limited": "O Google limitou temporariamente a sua agenda, porque muitos eventos ou convites foram "
                         "criados em pouco tempo. Seus compromissos estão guardados e serão enviados sozinhos: "
                         "tentaremos de novo em {when} (UTC). Você não precisa fazer nada.",
        "when_format": "%d/%m/%Y às %H:%M",
        "policy": "Política de uso de dados",
        "done_policy": "Você pode desconectar quando quiser, na aba Integrações externas da Evolutto. O que "
                       "guardamos, por quanto tempo e como apagar:",
    },
    "en": {
        "title": "Google Calendar integration",
        "choose_title": "Choose a calendar",
        "choose_intro": "Connected as {email}. Evolutto appointments will be created, changed and removed "
                        "automatically in the calendar you choose.",
        "legend": "Calendars you can write to",
        "primary": "primary",
        "save": "Save and sync",
        "none": "No calendar of this account can be written to. Connect another Google account.",
        "done_title": "All set",
        "done_body": "Your Evolutto appointments now appear in Google Calendar.",
        "back": "Back to Evolutto",
        "again": "Try again from Evolutto's External integrations tab.",
        "expired_title": "Expired or invalid link",
        "expired_body": "This connection link is no longer valid.",
        "session_title": "Session expired",
        "session_body": "Your connection session expired or could not be found.",
        "state_title": "The connection could not be completed",
        "state_body": "Google's answer does not match a connection started in this browser, or was already used.",
        "denied_title": "Connection cancelled",
        "denied_body": "You did not allow access to Google Calendar. Nothing was changed.",
        "scopes_title": "Missing permissions",
        "scopes_body": "To sync, allow both permissions asked for: seeing your calendar list and managing events.",
        "no_refresh_title": "Google did not grant lasting access",
        "no_refresh_body": "Remove Evolutto's access at myaccount.google.com/permissions and connect again.",
        "csrf_title": "Request refused",
        "csrf_body": "The form expired or did not come from this page.",
        "calendar_title": "Calendar unavailable",
        "calendar_body": "This calendar does not exist or you cannot write to it. Choose another.",
        "return_title": "Return address not allowed",
        "return_body": "The link asks to return to an address that is not Evolutto's.",
        "unavailable_title": "Service unavailable right now",
        "unavailable_body": "Google did not answer. Please try again in a few minutes.",
        "not_found_title": "Page not found",
        "not_found_body": "This address does not exist.",
        "disconnecting_title": "Disconnect in progress",
        "disconnecting_body": "The events of the previous connection are still being removed from Google Calendar. "
                              "Try again in a few minutes.",
        "method_title": "Request not allowed",
        "method_body": "This page can only be opened in a browser.",
        "usage_limited": "Google has temporarily limited your calendar, because many events or invitations were "
                         "created in a short time. Your appointments are kept and will be sent on their own: we "
                         "will try again on {when} (UTC). You do not need to do anything.",
        "when_format": "%Y-%m-%d at %H:%M",
        "policy": "Data use policy",
        "done_policy": "You can disconnect at any time, from Evolutto's External integrations tab. What we keep, "
                       "for how long and how to delete it:",
    },
}

STYLE = """
:root{color-scheme:light dark;--accent:#1a56db}
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1rem;
display:flex;justify-content:center}
main{max-width:34rem;width:100%}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
fieldset{border:1px solid #8884;border-radius:.5rem;padding:.5rem 1rem;margin:1rem 0}
legend{font-weight:600;padding:0 .25rem}
label{display:flex;gap:.75rem;align-items:center;min-height:2.75rem;cursor:pointer}
input[type=radio]{width:1.25rem;height:1.25rem}
button,.button{display:inline-block;font:inherit;font-weight:600;padding:.75rem 1.25rem;border-radius:.5rem;
border:0;background:var(--accent);color:#fff;text-decoration:none;min-height:2.75rem;cursor:pointer}
button:focus-visible,.button:focus-visible,input:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.muted{opacity:.75;font-size:.9rem}
footer{margin:2rem 0 1rem;font-size:.9rem}
a{color:var(--accent)}
@media (prefers-color-scheme:dark){a{color:#8ab4f8}}
"""


def language(accept_language: str | None) -> str:
    """pt-BR unless the browser prefers English."""
    best, best_q = "pt-BR", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        try:
            q = float(params.split("=", 1)[1]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            q = 0.0
        lang = "en" if tag.lower().startswith("en") else "pt-BR" if tag.lower().startswith("pt") else None
        if lang and q > 0 and q > best_q:  # q=0 (or unreadable) means "not this one"
            best, best_q = lang, q
    return best


def security_headers(nonce: str, form_targets: tuple[str, ...] = ()) -> dict[str, str]:
    form_action = " ".join(("'self'", *form_targets))
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": (f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
                                    f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
    }


PRIVACY_PATH = "/privacy"


def policy_url() -> str:
    """The data-use policy's address, on PUBLIC_BASE_URL like every link the service makes. A
    misconfigured deployment (no settings) is answered with a 503 page, which still links it."""
    from sync.config import settings
    from sync.kernel.errors import ConfigError

    try:
        base = settings().public_base_url
    except ConfigError:
        base = ""
    return base + PRIVACY_PATH


def policy_link(lang: str, element_id: str = "policy-link") -> str:
    return f'<a href="{html.escape(policy_url())}" id="{element_id}">{html.escape(TEXT[lang]["policy"])}</a>'


def _document(lang: str, title: str, body: str, nonce: str, footer: bool = True, css: str = "") -> str:
    end = f"<footer>{policy_link(lang)}</footer>" if footer else ""
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(title)} · Evolutto</title><style nonce=\"{nonce}\">{STYLE}{css}</style></head>"
            f"<body><main>{body}{end}</main></body></html>")


def message(lang: str, key: str, back_url: str | None = None) -> tuple[str, str]:
    """(html, nonce) of a page with a title and a sentence, e.g. an error."""
    t, nonce = TEXT[lang], secrets.token_urlsafe(16)
    body = f'<h1 id="title">{html.escape(t[key + "_title"])}</h1><p>{html.escape(t[key + "_body"])}</p>'
    if key == "done":
        body += f'<p>{html.escape(t["done_policy"])} {policy_link(lang, "done-policy-link")}</p>'
    else:
        body += f'<p class="muted">{html.escape(t["again"])}</p>'
    if back_url:
        body += f'<p><a class="button" href="{html.escape(back_url)}">{html.escape(t["back"])}</a></p>'
    return _document(lang, t[key + "_title"], body, nonce, footer=key != "done"), nonce  # done links it above


def calendars(lang: str, email: str, items: list[dict[str, Any]], selected: str | None,
              csrf: str, usage_limited_until: datetime | None = None) -> tuple[str, str]:
    """The pick-a-calendar page; ``usage_limited_until``: the connection is held by Google's usage
    limits until its next try then (docs/errors-and-limits.md#usage-limits), said in plain words."""
    t, nonce = TEXT[lang], secrets.token_urlsafe(16)
    notice = ""
    if usage_limited_until is not None:
        when = usage_limited_until.astimezone(timezone.utc).strftime(t["when_format"])
        notice = f'<p id="usage-limited" role="status">{html.escape(t["usage_limited"].format(when=when))}</p>'
    if not items:
        body = f'<h1 id="title">{html.escape(t["choose_title"])}</h1>{notice}<p>{html.escape(t["none"])}</p>'
        return _document(lang, t["choose_title"], body, nonce), nonce
    chosen = selected if any(c["id"] == selected for c in items) else items[0]["id"]
    options = []
    for i, cal in enumerate(items):
        label = html.escape(cal.get("summaryOverride") or cal.get("summary") or cal["id"])
        extra = f' <span class="muted">({html.escape(t["primary"])})</span>' if cal.get("primary") else ""
        checked = " checked" if cal["id"] == chosen else ""
        options.append(f'<label for="cal-{i}"><input type="radio" id="cal-{i}" name="calendar_id" '
                       f'value="{html.escape(cal["id"])}"{checked} required> {label}{extra}</label>')
    intro = html.escape(t["choose_intro"].format(email=email))
    body = (f'<h1 id="title">{html.escape(t["choose_title"])}</h1>{notice}<p>{intro}</p>'
            f'<form method="post" action="calendars" aria-labelledby="title">'
            f'<input type="hidden" name="csrf_token" value="{html.escape(csrf)}">'
            f'<fieldset><legend>{html.escape(t["legend"])}</legend>{"".join(options)}</fieldset>'
            f'<button type="submit" id="save">{html.escape(t["save"])}</button></form>')
    return _document(lang, t["choose_title"], body, nonce), nonce
