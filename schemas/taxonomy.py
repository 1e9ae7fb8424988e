"""The departments that handle city matters and the category taxonomy of reported matters.

Part of the contract (CONTRACT §1 `registry export`, §4 `category`): the validator checks codes
against these tables; the incident engine takes lead and joint departments and the SLA `kind`.
"""

from __future__ import annotations

from dataclasses import dataclass

# District adcodes and names; the dispatch desks below are generated from them.
_DISTRICTS = {
    "320102": ("玄武区", "Xuanwu"),
    "320104": ("秦淮区", "Qinhuai"),
    "320105": ("建邺区", "Jianye"),
    "320106": ("鼓楼区", "Gulou"),
    "320111": ("浦口区", "Pukou"),
    "320113": ("栖霞区", "Qixia"),
    "320114": ("雨花台区", "Yuhuatai"),
    "320115": ("江宁区", "Jiangning"),
    "320116": ("六合区", "Luhe"),
    "320117": ("溧水区", "Lishui"),
    "320118": ("高淳区", "Gaochun"),
}

# The SLA clock a category runs on (the engine's policy keys on it).
KINDS = ("emergency_life", "emergency_utility", "complaint", "consultation", "request")


@dataclass(frozen=True)
class Department:
    code: str
    name_zh: str
    name_en: str
    district: str | None = None


@dataclass(frozen=True)
class Category:
    code: str
    name_zh: str
    name_en: str
    lead_department: str
    default_severity: int
    joint_departments: tuple[str, ...]
    kind: str


_CITY_DEPARTMENTS = [
    Department("hotline12345", "12345政务服务便民热线", "12345 Government Service Hotline"),
    Department("urban_mgmt", "城市管理局", "Urban Management Bureau"),
    Department("water", "水务局（供水排水）", "Water Affairs Bureau"),
    Department("gas", "燃气集团", "Gas Company"),
    Department("power", "供电公司", "Power Supply Company"),
    Department("telecom", "通信管理局", "Communications Administration"),
    Department("traffic_police", "公安局交通管理局", "Traffic Police"),
    Department("public_security", "公安局", "Public Security Bureau"),
    Department("emergency", "应急管理局", "Emergency Management Bureau"),
    Department("housing", "住房保障和房产局", "Housing and Real Estate Bureau"),
    Department("ecology_env", "生态环境局", "Ecology and Environment Bureau"),
    Department("market_reg", "市场监督管理局", "Market Regulation Administration"),
    Department("transport", "交通运输局", "Transport Bureau"),
    Department("fire_rescue", "消防救援支队", "Fire and Rescue Detachment"),
    Department("metro", "地铁集团", "Metro Group"),
    Department("health", "卫生健康委员会", "Health Commission"),
    Department("civil_affairs", "民政局", "Civil Affairs Bureau"),
    Department("grid_inspect", "网格员队伍", "Grid Inspectors"),
    Department("iot", "城市物联感知平台", "IoT Sensor Platform"),
    Department("video", "视频智能分析平台", "Video AI Platform"),
]

_DESKS = [
    Department(
        f"desk_{adcode}", f"{zh}城运中心调度台", f"{en} District Operations Dispatch Desk", adcode
    )
    for adcode, (zh, en) in _DISTRICTS.items()
]

DEPARTMENTS: dict[str, Department] = {d.code: d for d in _CITY_DEPARTMENTS + _DESKS}


def _c(
    code: str,
    name_zh: str,
    name_en: str,
    lead: str,
    severity: int,
    kind: str,
    joint: tuple[str, ...] = (),
) -> Category:
    return Category(code, name_zh, name_en, lead, severity, joint, kind)


_CATEGORIES = [
    # life and property at stake: 2-hour clock
    _c(
        "gas_leak",
        "燃气泄漏",
        "Gas leak",
        "gas",
        4,
        "emergency_life",
        ("fire_rescue", "emergency", "public_security"),
    ),
    _c(
        "fire_hazard",
        "消防安全隐患",
        "Fire hazard",
        "fire_rescue",
        3,
        "emergency_life",
        ("emergency",),
    ),
    _c(
        "traffic_accident",
        "交通事故",
        "Traffic accident",
        "traffic_police",
        3,
        "emergency_life",
        ("health",),
    ),
    _c(
        "crowd_safety",
        "人群聚集安全",
        "Crowd safety",
        "public_security",
        3,
        "emergency_life",
        ("urban_mgmt", "transport"),
    ),
    _c(
        "waterlogging",
        "道路积水内涝",
        "Waterlogging and flooding",
        "water",
        3,
        "emergency_life",
        ("urban_mgmt", "traffic_police"),
    ),
    _c(
        "dangerous_housing",
        "危险房屋",
        "Dangerous housing",
        "housing",
        3,
        "emergency_life",
        ("emergency",),
    ),
    _c(
        "elevator",
        "电梯困人故障",
        "Elevator entrapment or fault",
        "market_reg",
        3,
        "emergency_life",
        ("fire_rescue",),
    ),
    _c(
        "tree_fall",
        "树木倒伏",
        "Fallen tree",
        "urban_mgmt",
        2,
        "emergency_life",
        ("traffic_police", "power"),
    ),
    _c(
        "manhole_cover",
        "井盖缺失破损",
        "Missing or broken manhole cover",
        "urban_mgmt",
        3,
        "emergency_life",
        ("water", "telecom"),
    ),
    _c(
        "rail_transit",
        "轨道交通运营",
        "Rail transit operations",
        "metro",
        3,
        "emergency_life",
        ("public_security", "transport"),
    ),
    _c("public_order", "治安秩序", "Public order", "public_security", 2, "emergency_life"),
    _c(
        "building_collapse",
        "建筑物坍塌",
        "Building collapse",
        "emergency",
        4,
        "emergency_life",
        ("fire_rescue", "housing", "public_security"),
    ),
    _c(
        "hazardous_chemicals",
        "危险化学品",
        "Hazardous chemicals",
        "emergency",
        4,
        "emergency_life",
        ("fire_rescue", "ecology_env"),
    ),
    # water, power, gas: 24-hour clock
    _c("water_supply", "供水故障", "Water supply failure", "water", 2, "emergency_utility"),
    _c(
        "bridge_structure",
        "桥梁结构安全",
        "Bridge structural safety",
        "urban_mgmt",
        3,
        "emergency_utility",
        ("traffic_police", "emergency"),
    ),
    # A publisher that went silent (early warning, docs/early-warning.md): the silent department
    # itself leads it (the engine sets the lead to the feed's department; "iot" is nominal).
    _c("feed_silent", "数据源中断", "Data feed silent", "iot", 2, "emergency_utility"),
    _c("power_supply", "停电故障", "Power outage", "power", 2, "emergency_utility"),
    _c("gas_supply", "停气故障", "Gas supply failure", "gas", 2, "emergency_utility"),
    _c(
        "drainage",
        "排水管网堵塞",
        "Drainage and sewer blockage",
        "water",
        2,
        "emergency_utility",
        ("urban_mgmt",),
    ),
    _c(
        "water_pipe_burst",
        "供水管道爆裂",
        "Burst water main",
        "water",
        3,
        "emergency_utility",
        ("traffic_police",),
    ),
    # complaints: 13 working days
    _c(
        "old_neighbourhood",
        "老旧小区环境",
        "Old-neighbourhood environment",
        "housing",
        1,
        "complaint",
        ("urban_mgmt",),
    ),
    _c(
        "parking",
        "车辆乱停乱放",
        "Disorderly parking",
        "traffic_police",
        1,
        "complaint",
        ("urban_mgmt",),
    ),
    _c(
        "garbage_sorting",
        "垃圾分类与清运",
        "Garbage sorting and collection",
        "urban_mgmt",
        1,
        "complaint",
    ),
    _c("noise", "噪声扰民", "Noise nuisance", "ecology_env", 1, "complaint", ("public_security",)),
    _c(
        "illegal_construction",
        "违法建设",
        "Illegal construction",
        "urban_mgmt",
        2,
        "complaint",
        ("housing",),
    ),
    _c("property_mgmt", "物业管理", "Property management", "housing", 1, "complaint"),
    _c("food_safety", "食品安全", "Food safety", "market_reg", 2, "complaint", ("health",)),
    _c("air_pollution", "大气污染", "Air pollution", "ecology_env", 2, "complaint"),
    _c("water_pollution", "水体污染", "Water pollution", "ecology_env", 2, "complaint", ("water",)),
    _c(
        "street_vendor", "占道经营", "Street vending", "urban_mgmt", 1, "complaint", ("market_reg",)
    ),
    _c(
        "construction_dust",
        "工地扬尘",
        "Construction-site dust",
        "urban_mgmt",
        1,
        "complaint",
        ("ecology_env",),
    ),
    _c(
        "price_fraud",
        "价格欺诈与消费纠纷",
        "Price fraud and consumer disputes",
        "market_reg",
        1,
        "complaint",
    ),
    # ordinary matters: 10 working days
    _c("street_lights", "路灯不亮", "Street lights out", "urban_mgmt", 1, "request", ("power",)),
    _c("road_damage", "道路破损", "Road damage", "urban_mgmt", 2, "request", ("traffic_police",)),
    _c("telecom", "通信网络故障", "Telecom outage", "telecom", 1, "request"),
    _c(
        "neighbour_dispute",
        "邻里纠纷",
        "Neighbour dispute",
        "civil_affairs",
        1,
        "request",
        ("public_security",),
    ),
    _c("bus_service", "公交服务", "Bus service", "transport", 1, "request"),
    _c("greenery", "绿化养护", "Greenery maintenance", "urban_mgmt", 1, "request"),
    _c(
        "stray_animals",
        "流浪动物",
        "Stray animals",
        "urban_mgmt",
        1,
        "request",
        ("public_security",),
    ),
    _c("elderly_care", "养老服务", "Elderly care", "civil_affairs", 1, "request", ("health",)),
    # enquiries: 3 working days
    _c("consultation", "政策咨询", "General enquiry", "hotline12345", 1, "consultation"),
]

CATEGORIES: dict[str, Category] = {c.code: c for c in _CATEGORIES}
FEED_SILENT = "feed_silent"  # the category of a silent feed's incident (docs/early-warning.md)


def department(code: str) -> Department | None:
    return DEPARTMENTS.get(code)


def category(code: str) -> Category | None:
    return CATEGORIES.get(code)


def dispatch_desk(district_code: str) -> str:
    """The department code of a district's dispatch desk (where unlocated reports go first)."""
    code = f"desk_{district_code}"
    if code not in DEPARTMENTS:
        raise KeyError(f"no dispatch desk for district {district_code!r}")
    return code
