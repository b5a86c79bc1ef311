"""``GET /privacy``: the data-use policy of the Google Calendar integration, pt-BR and en.

Rendered from what the service runs with: the scopes it asks Google for
(sync/kernel/model.SCOPES), the inventory of what it stores and for how long
(sync/web/stored_data.py, durations from code and settings). It is the page the OAuth
consent screen's "privacy policy" link points to (terraform output ``oauth_client_settings``),
and every page of the connect flow links it. ``?lang=en`` / ``?lang=pt-BR`` override the
browser's language.
"""

from __future__ import annotations

import html
import secrets
from typing import Any

from flask import Response

from sync.config import Settings
from sync.kernel.model import SCOPES
from sync.web import pages
from sync.web.stored_data import FIRESTORE, LOGGING, PUBSUB, SECRET_MANAGER, Item, shown

PATH = pages.PRIVACY_PATH
USER_DATA_POLICY = "https://developers.google.com/terms/api-services-user-data-policy"
# Google's required Limited Use disclosure, word for word (it stays in English on both pages).
LIMITED_USE = ("The use and transfer of information received from Google APIs to any other app will adhere to "
               "Google API Services User Data Policy, including the Limited Use requirements.")
LANGS = ("pt-BR", "en")

# Each scope the connect flow asks for, and why (a scope without an entry fails to render).
SCOPE_TEXT = {
    "https://www.googleapis.com/auth/calendar.events": {
        "pt-BR": ("Ver e editar os eventos das suas agendas",
                  "Para criar, alterar e remover, na agenda que você escolheu, os eventos dos seus compromissos "
                  "da Evolutto; para perceber quando um deles foi editado ou apagado à mão no Google Agenda e "
                  "restaurá-lo; e para movê-los se você trocar de agenda. Para perceber essas edições, o Google "
                  "nos envia as mudanças da agenda escolhida, inclusive as dos seus outros eventos: usamos "
                  "apenas os eventos criados pela Evolutto e não guardamos nada dos demais. Não mexemos nas "
                  "suas outras agendas."),
        "en": ("See and edit the events on your calendars",
               "To create, change and remove, in the calendar you chose, the events of your Evolutto appointments; "
               "to notice when one of them was edited or deleted by hand in Google Calendar and put it back; and "
               "to move them if you switch calendars. To notice those edits Google sends us the chosen "
               "calendar's changes, your other events' included: we use only the events Evolutto created and "
               "keep nothing of the others. We do not touch your other calendars."),
    },
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly": {
        "pt-BR": ("Ver a lista das suas agendas",
                  "Para mostrar as agendas em que você pode escrever, para você escolher uma, e conferir que "
                  "ainda pode escrever na escolhida. Guardamos só o identificador da agenda escolhida e o "
                  "endereço da sua conta Google (o identificador da sua agenda principal), para mostrar qual "
                  "conta está conectada."),
        "en": ("See the list of your calendars",
               "To show the calendars you can write to, so you can pick one, and to check you can still write "
               "to the one you picked. We keep only the chosen calendar's id and your Google account's address "
               "(your primary calendar's id), to show which account is connected."),
    },
}

TITLES = {
    "connection": ("Conexão", "Connection"),
    "token": ("Token de acesso", "Access token"),
    "mapping": ("Vínculo de cada compromisso", "Each appointment's link"),
    "event_bodies": ("Conteúdo dos compromissos", "Appointment contents"),
    "oauth_state": ("Conexão em andamento", "Connection in progress"),
    "flow_session": ("Sessão de conexão", "Connect session"),
    "drift": ("Acompanhamento de edições", "Edit tracking"),
    "drift_channel": ("Canais de aviso do Google", "Google's notification channels"),
    "drift_meta": ("Manutenção", "Housekeeping"),
    "snapshot": ("Fotografias da agenda", "Agenda snapshots"),
    "calendar_move": ("Troca de agenda", "Calendar switch"),
    "disconnect": ("Desconexão em andamento", "Disconnect in progress"),
    "notification": ("Avisos à Evolutto", "Notices to Evolutto"),
    "queue": ("Mudanças a caminho", "Changes on their way"),
    "logs": ("Registros de operação", "Operation logs"),
}

WHERE = {
    FIRESTORE: ("Banco de dados do serviço (Google Cloud Firestore)",
                "The service's database (Google Cloud Firestore)"),
    SECRET_MANAGER: ("Google Cloud Secret Manager, cifrado", "Google Cloud Secret Manager, encrypted"),
    PUBSUB: ("Fila de mensagens (Google Cloud Pub/Sub)", "Message queue (Google Cloud Pub/Sub)"),
    LOGGING: ("Google Cloud Logging", "Google Cloud Logging"),
}

TEXT: dict[str, dict[str, str]] = {
    "pt-BR": {
        "title": "Política de uso de dados",
        "subtitle": "Integração da Evolutto com o Google Agenda",
        "other": "English",
        "intro": "A integração copia os seus compromissos da Evolutto para a agenda do Google que você escolher, "
                 "e os mantém iguais: cada compromisso criado, alterado ou removido na Evolutto aparece nela. "
                 "Esta página diz quais dados do Google acessamos e por quê, o que guardamos e por quanto tempo, "
                 "quem pode ver e como apagar tudo.",
        "scopes": "Dados do Google que acessamos",
        "scopes_intro": "Ao conectar, pedimos ao Google estas duas permissões, e nenhuma outra:",
        "use": "Como usamos",
        "use_body": "Os dados do Google servem a uma única coisa: mostrar os seus próprios compromissos da "
                    "Evolutto na sua agenda e mantê-los corretos. Não os usamos para publicidade, não os vendemos, "
                    "não criamos perfis, não os usamos para treinar modelos de inteligência artificial e não os "
                    "repassamos a terceiros. A Evolutto recebe apenas o estado da sua conexão (conta Google "
                    "conectada, agenda escolhida, contagens e erros), para mostrá-lo a você.",
        "limited": "Uso limitado",
        "limited_body": "O uso e a transferência, para qualquer outro aplicativo, de informações recebidas das "
                        "APIs do Google seguirão a Política de Dados do Usuário dos Serviços de API do Google, "
                        "incluindo os requisitos de Uso Limitado. No texto exigido pelo Google:",
        "stored": "O que guardamos e por quanto tempo",
        "stored_intro": "Tudo fica no projeto Google Cloud do serviço. Nada além do listado aqui.",
        "why": "Para quê",
        "kept": "Por quanto tempo",
        "where": "Onde",
        "technical": "Detalhes técnicos",
        "contents": "Contém o conteúdo de compromissos.",
        "who": "Quem pode ver",
        "who_body": "Você, na aba Integrações externas da Evolutto (o estado da conexão). A Evolutto, que recebe "
                    "o estado da conexão, nunca o conteúdo da sua agenda do Google. As pessoas que operam o "
                    "serviço, só para mantê-lo funcionando, investigar um problema que você relatar, ou por "
                    "segurança e obrigação legal; o acesso ao projeto é restrito e registrado pelo Google Cloud. "
                    "O Google Cloud, que hospeda o serviço. Ninguém mais.",
        "delete": "Como apagar os seus dados",
        "delete_body": "Na aba Integrações externas da Evolutto, desconecte o Google Agenda. Você escolhe o que "
                       "acontece com os eventos já criados: mantê-los na sua agenda (ficam como eventos comuns, "
                       "que não alteramos mais) ou removê-los (são apagados da sua agenda, sem e-mail aos "
                       "convidados).",
        "delete_then": "Ao desconectar, revogamos o nosso acesso à sua conta no Google, destruímos o token e "
                       "apagamos os vínculos e o conteúdo guardado dos seus compromissos. O que expira sozinho "
                       "(sessões, fotografias da agenda, mudanças na fila) some nos prazos acima. Para conectar de "
                       "novo, basta começar outra vez pela aba Integrações externas.",
        "revoke": "Você também pode retirar o acesso da Evolutto em myaccount.google.com/permissions. A partir "
                  "daí nada mais é escrito na sua agenda e a Evolutto pede que você reconecte; as mudanças que "
                  "chegarem esperam (guardadas como descrito acima) até você reconectar ou desconectar.",
        "contact": "Dúvidas: fale com o suporte da Evolutto.",
        "connected": "Enquanto você estiver conectado; apagado ao desconectar.",
        "record": "Enquanto você estiver conectado. Depois de desconectar, fica só um registro sem dados do "
                  "Google: os seus identificadores na Evolutto, que você desconectou e as datas das mudanças.",
        "service": "Enquanto o serviço existir.",
        "ttl": "{duration} a partir de quando é criado; depois é apagado automaticamente (em geral em até um dia).",
        "until_sent": "Até ser entregue à Evolutto, em geral em segundos; se a entrega falhar, é tentada de novo.",
        "until_disconnected": "Só enquanto a desconexão está em andamento (em geral segundos; minutos quando há "
                              "milhares de eventos a remover); apagado quando ela termina.",
        "queue_kept": "No máximo {duration}; a fila apaga as mensagens depois desse prazo.",
        "logs_kept": "{duration} (a retenção padrão do Cloud Logging).",
        "minutes": "{n} minutos", "minute": "1 minuto", "hours": "{n} horas", "hour": "1 hora",
        "days": "{n} dias", "day": "1 dia",
    },
    "en": {
        "title": "Data use policy",
        "subtitle": "Evolutto's Google Calendar integration",
        "other": "Português",
        "intro": "The integration copies your Evolutto appointments into the Google calendar you choose and keeps "
                 "them the same: every appointment created, changed or removed on Evolutto shows there. This page "
                 "says which Google data we access and why, what we keep and for how long, who can see it and how "
                 "to delete all of it.",
        "scopes": "Google data we access",
        "scopes_intro": "When you connect, we ask Google for these two permissions, and no other:",
        "use": "How we use it",
        "use_body": "Google data serves one purpose only: showing your own Evolutto appointments in your calendar "
                    "and keeping them right. We do not use it for advertising, do not sell it, do not build "
                    "profiles, do not use it to train artificial intelligence models and do not pass it to third "
                    "parties. Evolutto receives only your connection's state (connected Google account, chosen "
                    "calendar, counts and errors), to show it to you.",
        "limited": "Limited Use",
        "limited_body": "In the words Google requires:",
        "stored": "What we keep, and for how long",
        "stored_intro": "Everything stays in the service's Google Cloud project. Nothing beyond what is listed here.",
        "why": "What for",
        "kept": "For how long",
        "where": "Where",
        "technical": "Technical details",
        "contents": "Holds appointment contents.",
        "who": "Who can see it",
        "who_body": "You, in Evolutto's External integrations tab (the connection's state). Evolutto, which "
                    "receives the connection's state, never the contents of your Google calendar. The people who "
                    "run the service, only to keep it working, to investigate a problem you report, or for "
                    "security and legal obligations; access to the project is restricted and recorded by Google "
                    "Cloud. Google Cloud, which hosts the service. Nobody else.",
        "delete": "How to delete your data",
        "delete_body": "In Evolutto's External integrations tab, disconnect Google Calendar. You choose what "
                       "happens to the events already created: keep them in your calendar (they stay as ordinary "
                       "events we no longer change) or remove them (they are deleted from your calendar, without "
                       "emailing guests).",
        "delete_then": "When you disconnect, we revoke our access to your Google account, destroy the token and "
                       "delete the links and the stored contents of your appointments. What expires on its own "
                       "(sessions, agenda snapshots, queued changes) is gone within the times above. To connect "
                       "again, just start over from the External integrations tab.",
        "revoke": "You can also remove Evolutto's access at myaccount.google.com/permissions. From then on nothing "
                  "more is written to your calendar and Evolutto asks you to reconnect; changes that arrive wait "
                  "(kept as described above) until you reconnect or disconnect.",
        "contact": "Questions: contact Evolutto's support.",
        "connected": "While you are connected; deleted when you disconnect.",
        "record": "While you are connected. After you disconnect, only a record with no Google data remains: "
                  "your Evolutto ids, that you disconnected, and the dates of the changes.",
        "service": "As long as the service exists.",
        "ttl": "{duration} from when it is created; then deleted automatically (usually within a day).",
        "until_sent": "Until delivered to Evolutto, usually within seconds; a failed delivery is tried again.",
        "until_disconnected": "Only while the disconnect is in progress (usually seconds; minutes when thousands of "
                              "events are being removed); deleted when it finishes.",
        "queue_kept": "At most {duration}; the queue deletes messages after that.",
        "logs_kept": "{duration} (Cloud Logging's default retention).",
        "minutes": "{n} minutes", "minute": "1 minute", "hours": "{n} hours", "hour": "1 hour",
        "days": "{n} days", "day": "1 day",
    },
}

CSS = """
h2{font-size:1.2rem;margin:2rem 0 .5rem}
h3{font-size:1rem;margin:1.25rem 0 .25rem}
dl{margin:.25rem 0}dt{font-weight:600}dd{margin:0 0 .5rem}
code{overflow-wrap:anywhere;font-size:.85rem}
blockquote{margin:.5rem 0;padding:.5rem 1rem;border-left:4px solid var(--accent)}
section{border-top:1px solid #8884;padding-top:.25rem}
"""


def duration(lang: str, seconds: float) -> str:
    """The shortest exact rendering: 600 → 10 minutes, 604800 → 7 days."""
    t = TEXT[lang]
    seconds = round(seconds)
    for size, one, many in ((86400, "day", "days"), (3600, "hour", "hours"), (60, "minute", "minutes")):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return t[one] if n == 1 else t[many].format(n=n)
    minutes = max(1, round(seconds / 60))
    return t["minute"] if minutes == 1 else t["minutes"].format(n=minutes)


def kept(lang: str, item: Item) -> str:
    t = TEXT[lang]
    if item.kept.kind == "ttl":
        return t["ttl"].format(duration=duration(lang, item.kept.seconds))
    if item.kept.kind == "retention":
        return t["queue_kept" if item.where == PUBSUB else "logs_kept"].format(
            duration=duration(lang, item.kept.seconds))
    if item.key == "connection":
        return t["record"]
    if item.key == "drift_meta":
        return t["service"]
    return t[item.kept.kind]


def _esc(text: str) -> str:
    return html.escape(text)


def _item(lang: str, item: Item) -> str:
    t, index = TEXT[lang], LANGS.index(lang)
    technical = ""
    if item.collections:
        fields = ", ".join(f"<code>{_esc(f)}</code>" for f in sorted(item.fields))
        names = ", ".join(f"<code>{_esc(c)}</code>" for c in item.collections)
        technical = (f"<details><summary>{_esc(t['technical'])}</summary><p>Firestore: {names}</p>"
                     f"<p>{fields}</p></details>")
    contents = f'<p class="muted">{_esc(t["contents"])}</p>' if item.contents else ""
    return (f'<section id="stored-{_esc(item.key)}"><h3>{_esc(TITLES[item.key][index])}</h3>'
            f"<p>{_esc(item.what[lang])}</p>{contents}<dl>"
            f"<dt>{_esc(t['why'])}</dt><dd>{_esc(item.why[lang])}</dd>"
            f"<dt>{_esc(t['kept'])}</dt><dd>{_esc(kept(lang, item))}</dd>"
            f"<dt>{_esc(t['where'])}</dt><dd>{_esc(WHERE[item.where][index])}</dd></dl>{technical}</section>")


def render(lang: str, settings: Settings) -> tuple[str, str]:
    """(html, nonce) of the policy in ``lang``."""
    t, nonce = TEXT[lang], secrets.token_urlsafe(16)
    other = LANGS[1 - LANGS.index(lang)]
    scopes = "".join(
        f'<h3 id="scope-{i}">{_esc(SCOPE_TEXT[s][lang][0])}</h3><p><code>{_esc(s)}</code></p>'
        f"<p>{_esc(SCOPE_TEXT[s][lang][1])}</p>" for i, s in enumerate(SCOPES))
    stored = "".join(_item(lang, item) for item in shown(settings))
    body = (
        f'<h1 id="title">{_esc(t["title"])}</h1>'
        f'<p class="muted">{_esc(t["subtitle"])} · <a href="?lang={other}" hreflang="{other}" lang="{other}" '
        f'id="other-language">{_esc(t["other"])}</a></p>'
        f"<p>{_esc(t['intro'])}</p>"
        f'<h2 id="scopes">{_esc(t["scopes"])}</h2><p>{_esc(t["scopes_intro"])}</p>{scopes}'
        f'<h2 id="use">{_esc(t["use"])}</h2><p>{_esc(t["use_body"])}</p>'
        f'<h2 id="limited-use">{_esc(t["limited"])}</h2><p>{_esc(t["limited_body"])}</p>'
        f'<blockquote lang="en" id="limited-use-statement">{_limited_use()}</blockquote>'
        f'<h2 id="stored">{_esc(t["stored"])}</h2><p>{_esc(t["stored_intro"])}</p>{stored}'
        f'<h2 id="who">{_esc(t["who"])}</h2><p>{_esc(t["who_body"])}</p>'
        f'<h2 id="delete">{_esc(t["delete"])}</h2><p>{_esc(t["delete_body"])}</p>'
        f"<p>{_esc(t['delete_then'])}</p><p>{_esc(t['revoke'])}</p>"
        f'<p class="muted">{_esc(t["contact"])}</p>'
    )
    return pages._document(lang, t["title"], body, nonce, footer=False, css=CSS), nonce


def _limited_use() -> str:
    """The statement, its policy name linked to Google's policy."""
    name = "Google API Services User Data Policy"
    before, after = LIMITED_USE.split(name)
    return f'{_esc(before)}<a href="{USER_DATA_POLICY}">{name}</a>{_esc(after)}'


def handle(request: Any, settings: Settings, lang: str) -> Response:
    if request.method not in ("GET", "HEAD"):
        body, nonce = pages.message(lang, "method")
        return Response(body, status=405, headers={**pages.security_headers(nonce), "Allow": "GET, HEAD"})
    chosen = request.args.get("lang")
    body, nonce = render(chosen if chosen in LANGS else lang, settings)
    return Response(body, status=200, headers=pages.security_headers(nonce))
