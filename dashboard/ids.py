"""Element ids of the dashboard. The wall's ids are part of the outside contract (CONTRACT §7);
the rest are ours. Every page and test imports them from here."""

# -- the wall display (CONTRACT §7: stable) -------------------------------------------------------
KPI_EVENTS_TODAY = "kpi-events-today"
KPI_OPEN = "kpi-open"
KPI_JOINT = "kpi-joint"
KPI_SLA_BREACHED = "kpi-sla-breached"
KPI_ESCALATED = "kpi-escalated"
KPI_CLOSURE_RATE = "kpi-closure-rate"
KPI_RESOLUTION_RATE = "kpi-resolution-rate"
KPI_REPEAT_RATE = "kpi-repeat-rate"
KPIS = (
    KPI_EVENTS_TODAY,
    KPI_OPEN,
    KPI_JOINT,
    KPI_SLA_BREACHED,
    KPI_ESCALATED,
    KPI_CLOSURE_RATE,
    KPI_RESOLUTION_RATE,
    KPI_REPEAT_RATE,
)
MAP = "map"
CHAIN = "chain"
JOINT_BOARD = "joint-board"
TICKER = "ticker"
FRESHNESS = "freshness"


def kpi_value(kpi: str) -> str:
    """The number inside a KPI tile."""
    return f"{kpi}-value"


def kpi_delta(kpi: str) -> str:
    """The change against the same time yesterday inside a KPI tile."""
    return f"{kpi}-delta"


# -- the wall display (ours) ----------------------------------------------------------------------
WALL_ROOT = "wall-root"
STALE_BANNER = "stale-banner"
STACK_PARTS = "stack-parts"  # which part of the stack is down (broker, database, worker …)
FEEDS_SILENT = "feeds-silent"  # departments whose feed went silent, each with "since HH:MM"
STACK_PARTS_TICK = "stack-parts-tick"
CLOCK = "wall-clock"
REFRESH = "wall-refresh"
REFRESH_STATE = "wall-refresh-state"
EVENTS_PER_MINUTE = "events-per-minute"
TOP_CATEGORIES = "top-categories"
ALERTS = "alerts"
CHAIN_SHARE = "chain-share"
# scenes, rotation, the pinned scene and the viewport (dashboard/scenes.py, pages/wall_scenes.py)
SCENE_CONFIG = "wall-scene-config"
SCENE_STATE = "wall-scene"  # {"scene", "district"} shown now (set by the browser)
SCENE_PINNED = "wall-scene-pinned"  # {"scene", "by"}: the pinned scene, None when rotating
SCENE_NAME = "wall-scene-name"
SCENE_PIN_CONTROL = "wall-pin-control"
SCENE_PIN_CHOICE = "wall-pin-choice"
SCENE_PIN = "wall-pin"
SCENE_UNPIN = "wall-unpin"
SCENE_PIN_RESULT = "wall-pin-result"
SCENE_SUPERVISION_PLACEHOLDER = "scene-supervision-placeholder"
SCENE_SUPERVISION_SUMMARY = "scene-supervision-summary"  # kiosk-safe: counts only
SCENE_DISTRICT_MAP = "scene-district-map"
SCENE_DISTRICT_STREETS = "scene-district-streets"
SCENE_SENSOR_MAP = "scene-sensor-map"
SCENE_RULES = "scene-rules"
SCENE_SENSORS_OVER = "scene-sensors-over"
SCENE_SILENT = "scene-silent"
ANNOTATE_FORM = "wall-annotate"  # warning periods (city.annotation.v1), signed-in users only
ANNOTATE_KIND = "wall-annotate-kind"
ANNOTATE_LABEL = "wall-annotate-label"
ANNOTATE_HOURS = "wall-annotate-hours"
ANNOTATE_DISTRICT = "wall-annotate-district"
ANNOTATE_ADD = "wall-annotate-add"
ANNOTATE_RESULT = "wall-annotate-result"
ANNOTATE_DIGEST = "wall-annotate-digest"
VIEWPORT = "wall-viewport"  # {"w", "h", "map_w", "map_h"} CSS pixels, set by the browser


def scene_box(name: str) -> str:
    """The box of one wall scene (city, district, supervision, sensors)."""
    return f"scene-{name}"


# -- shell ----------------------------------------------------------------------------------------
URL = "url"
PAGE = "page"
LANG = "lang"
LANG_TOGGLE = "lang-toggle"
APP_ROOT = "app-root"
NAV = "nav"

# -- /incidents -----------------------------------------------------------------------------------
FILTER_DISTRICT = "filter-district"
FILTER_STREET = "filter-street"
FILTER_CATEGORY = "filter-category"
FILTER_STATUS = "filter-status"
FILTER_SEVERITY = "filter-severity"
FILTER_RANGE = "filter-range"
FILTER_TEXT = "filter-text"
SORT_BY = "sort-by"
SORT_DESC = "sort-desc"
PAGE_PREV = "page-prev"
PAGE_NEXT = "page-next"
PAGE_STATE = "page-state"
PAGE_INFO = "page-info"
INCIDENT_TABLE = "incident-table"
INCIDENT_COUNT = "incident-count"

# -- /incidents/<id> ------------------------------------------------------------------------------
INCIDENT_ID = "incident-id"
TIMELINE = "timeline"
TASKS = "tasks"
DEADLINES = "deadlines"
RAW_EVENTS = "raw-events"
REPEATS = "repeats"
LOCATION_CHAIN = "location-chain"
ACTIONS = "actions"
ACTION_COMMENT = "action-comment"
ACTION_ACK = "action-acknowledge"
ACTION_NOTE = "action-note"
ACTION_URGE = "action-urge"
ACTION_ESCALATE = "action-escalate"
ACTION_RESULT = "action-result"
RETURN_REVIEW = "return-review"  # 退单审核: shown while a return waits for the desk's decision
RETURN_REASON = "return-reason"
RETURN_TO = "return-to"
RETURN_REASSIGN = "return-reassign"
RETURN_UPHOLD = "return-uphold"
RETURN_RESULT = "return-result"
DETAIL_REFRESH = "detail-refresh"

# -- /district/<adcode> ---------------------------------------------------------------------------
DISTRICT_MAP = "district-map"
DISTRICT_STREETS = "district-streets"

# -- /reports -------------------------------------------------------------------------------------
REPORT_DATE = "report-date"
REPORT_PERIOD = "report-period"
REPORT_BY = "report-by"
REPORT_BODY = "report-body"
REPORT_TABLE = "report-table"
REPORT_FUNNEL = "report-funnel"
REPORT_CSV = "report-csv"
DISTRICT_CODE = "district-code"
DISTRICT_FIT_TICK = "district-fit-tick"
DISTRICT_VIEWPORT = "district-viewport"  # the map's size in CSS pixels, set by the browser
