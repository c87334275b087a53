"""A seeded traffic simulator with ground truth, for the labelled evaluation of matching (pure, no I/O).

People land on a seller's page from an ad (clicks) and some of them buy; other buyers never clicked
(organic). Every purchase knows who bought it, so the engine's matches can be scored. The knobs are the
real-world conditions issue 14 lists, each a field of ``Scenario``:

- **Addresses.** A person is at home (an IPv4 address of their own, in one of ``home_blocks`` /24s, so
  neighbours can share a /24), behind a mobile carrier's NAT (``cgnat_share``: one of ``cgnat_addresses``
  public IPv4 addresses spread over ``cgnat_blocks`` /24s, shared by everyone on the carrier) or on IPv6
  (``ipv6_share``: a /64 of their own, a new interface id at checkout). Between landing and checkout a
  carrier address rotates (``rotation``) and an IPv6 visitor's checkout may reach the gateway over the
  carrier's IPv4 instead (``v6_checkout_v4``).
- **User agents** (``ua_mix``): Chrome's reduced Android string (one per major version, shared by every
  Android Chrome), iOS Safari frozen per iOS version, desktop browsers, and Facebook/Instagram in-app
  browsers whose strings carry the device model and app version (many distinct values, Zipf-distributed).
  At checkout the browser may change (``browser_change``: the in-app page opened in the phone's default
  browser) or the UA may be missing (``ua_missing``).
- **Buyers.** ``organic_share`` of purchases come from people who never clicked (``household_share`` of
  them live with a visitor who did, and buy from the same home address); ``device_switch`` of ad
  buyers check out on another device (a desktop at home); checkouts lose the session id
  (``session_drop``) or carry the buyer's fbc (``fbc_share`` of those that lost it, e.g. Stripe metadata).
- **Time.** Visits spread over ``visit_hours`` (a launch concentrates them); the click -> purchase delay is
  log-normal (``delay_median_minutes``, ``delay_sigma``); visitors view ``pageviews_mean`` extra pages.

``simulate(scenario, start)`` returns clicks, purchases and truth as Polars frames; the harness lands the
first two exactly as ingest does and runs the real engine.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from trackai.core import session_id as session_rule

# ------------------------------------------------------------------------------------------ user agents
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
    "Mobile Safari/537.36"
)
ANDROID_CHROME_VERSIONS = {"129": 0.1, "130": 0.3, "131": 0.6}
IOS_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS {v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/{short} Mobile/15E148 Safari/604.1"
)
IOS_VERSIONS = {"17_6": 0.2, "18_1": 0.3, "18_3": 0.5}
DESKTOP = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36": 0.7,
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Safari/605.1.15": 0.3,
}
ANDROID_MODELS = (
    "SM-A155M", "SM-A055M", "SM-A256E", "moto g54 5G", "SM-A356E", "23129RAA4G", "moto g24", "SM-A546E",
    "SM-G990E", "moto e22", "2201117TL", "SM-A145M", "SM-S911B", "motorola edge 40", "SM-A042M",
    "23053RN02L", "SM-M146B", "moto g84 5G", "SM-A346E", "RMX3630", "SM-A736B", "moto g32", "SM-S921B",
    "22111317G", "SM-A525M", "XT2343-1", "SM-A236M", "M2101K6G", "SM-A135M", "moto g14",
)  # fmt: skip
IOS_DEVICES = tuple(f"iPhone{d}" for d in ("12,1", "12,8", "13,2", "14,5", "14,7", "15,2", "15,4", "16,1",
                                           "16,2", "17,1", "17,3", "14,2"))  # fmt: skip
FB_ANDROID = (
    "Mozilla/5.0 (Linux; Android {av}; {model} Build/{build}; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/131.0.6778.{patch} Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/{app};IABMV/1;]"
)
FB_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS {v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 [FBAN/FBIOS;FBAV/{app};FBBV/{build};FBDV/{device};FBMD/iPhone;FBSN/iOS;FBSV/{dot};"
    "FBSS/3;FBID/phone;FBLC/pt_BR;FBOP/5;FBRV/0]"
)
FB_APP_VERSIONS = ("489.0.0.43.109", "490.0.0.39.107", "491.0.0.51.109", "492.0.0.44.108")
UA_CLASSES = ("android_chrome", "ios_safari", "android_in_app", "ios_in_app", "desktop")


def _zipf(n: int, s: float = 1.1) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def user_agent(rng: np.random.Generator, ua_class: str) -> str:
    """One user-agent string of ``ua_class`` drawn from its (realistic, skewed) population."""
    if ua_class == "android_chrome":
        return ANDROID_CHROME.format(v=_pick(rng, ANDROID_CHROME_VERSIONS))
    if ua_class == "ios_safari":
        v = _pick(rng, IOS_VERSIONS)
        return IOS_SAFARI.format(v=v, short=v.replace("_", "."))
    if ua_class == "desktop":
        return _pick(rng, DESKTOP)
    if ua_class == "android_in_app":
        model = ANDROID_MODELS[int(rng.choice(len(ANDROID_MODELS), p=_zipf(len(ANDROID_MODELS))))]
        return FB_ANDROID.format(
            av=("13", "14", "15")[int(rng.integers(3))],
            model=model,
            build=("UP1A.231005.007", "AP2A.240805.005", "TP1A.220624.014")[int(rng.integers(3))],
            patch=("104", "135", "200")[int(rng.integers(3))],
            app=FB_APP_VERSIONS[int(rng.choice(4, p=_zipf(4)))],
        )
    if ua_class == "ios_in_app":
        v = _pick(rng, IOS_VERSIONS)
        return FB_IOS.format(
            v=v,
            dot=v.replace("_", "."),
            app=FB_APP_VERSIONS[int(rng.choice(4, p=_zipf(4)))],
            build=str(600_000_000 + int(rng.integers(4)) * 1_000_003),
            device=IOS_DEVICES[int(rng.choice(len(IOS_DEVICES), p=_zipf(len(IOS_DEVICES))))],
        )
    raise ValueError(f"unknown user-agent class {ua_class!r}")


def default_browser(rng: np.random.Generator, ua_class: str) -> str:
    """The phone's default browser when an in-app page is opened outside the app."""
    if ua_class.startswith("android"):
        return user_agent(rng, "android_chrome")
    if ua_class.startswith("ios"):
        return user_agent(rng, "ios_safari")
    return user_agent(rng, ua_class)


# ------------------------------------------------------------------------------------------ scenarios
DEFAULT_UA_MIX = {
    "android_chrome": 0.30,
    "ios_safari": 0.15,
    "android_in_app": 0.25,
    "ios_in_app": 0.15,
    "desktop": 0.15,
}


@dataclass(frozen=True)
class Scenario:
    """One traffic shape (see the module docstring for every knob)."""

    name: str
    description: str
    visitors: int = 1000
    purchases: int = 300
    organic_share: float = 0.3
    household_share: float = 0.05
    cgnat_share: float = 0.0
    cgnat_addresses: int = 16
    cgnat_blocks: int = 2
    rotation: float = 0.3
    ipv6_share: float = 0.0
    v6_checkout_v4: float = 0.2
    home_blocks: int = 4096
    ua_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_UA_MIX))
    browser_change: float = 0.1
    ua_missing: float = 0.2
    device_switch: float = 0.05
    session_drop: float = 0.6
    fbc_share: float = 0.0
    visit_hours: float = 24.0
    delay_median_minutes: float = 20.0
    delay_sigma: float = 1.2
    pageviews_mean: float = 0.5
    seed: int = 1

    def knobs(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("name", "description")}

    def scaled(self, factor: float, **changes) -> Scenario:
        """The same shape with ``factor`` x the visitors and purchases (address pools scale too)."""
        return replace(
            self,
            visitors=max(1, round(self.visitors * factor)),
            purchases=max(1, round(self.purchases * factor)),
            cgnat_addresses=max(1, round(self.cgnat_addresses * factor)),
            **changes,
        )


# The published scenarios: `make eval-matching` runs these; tests run small seeded versions of the first two.
DENSE = Scenario(
    name="dense_cgnat_launch",
    description="launch day: 3,000 visitors in 6 h, 85 % behind one carrier's 16 NAT addresses "
    "(~160 phones per address), 40 % organic buyers, 70 % of checkouts without the session id",
    visitors=3000,
    purchases=400,
    organic_share=0.4,
    cgnat_share=0.85,
    cgnat_addresses=16,
    cgnat_blocks=2,
    rotation=0.3,
    session_drop=0.7,
    device_switch=0.1,
    visit_hours=6.0,
)
SPARSE = Scenario(
    name="sparse_households",
    description="an ordinary day: 1,000 visitors over 24 h, each on an address of their own, 30 % organic "
    "buyers, 60 % of checkouts without the session id",
    visitors=1000,
    purchases=300,
    organic_share=0.3,
    session_drop=0.6,
)
DENSE_IPV6 = replace(
    DENSE,
    name="dense_cgnat_ipv6",
    description="the launch day with half of the carrier's phones on IPv6 (a /64 each; 20 % of their "
    "checkouts reach the gateway over the carrier's IPv4)",
    ipv6_share=0.45,
    cgnat_share=0.4,
    seed=2,
)
MIXED = Scenario(
    name="mixed_day",
    description="a busy ordinary day: 2,000 visitors over 24 h, 40 % behind 64 NAT addresses, 25 % on IPv6, "
    "35 % organic, 60 % of checkouts without the session id (15 % of those carry the buyer's fbc)",
    visitors=2000,
    purchases=400,
    organic_share=0.35,
    cgnat_share=0.4,
    cgnat_addresses=64,
    cgnat_blocks=4,
    ipv6_share=0.25,
    fbc_share=0.15,
    seed=3,
)
SLOW = replace(
    SPARSE,
    name="sparse_slow_buyers",
    description="the ordinary day, but buyers take hours to decide (median 6 h): time says little",
    delay_median_minutes=360.0,
    delay_sigma=0.8,
    seed=4,
)
SCENARIOS = (DENSE, DENSE_IPV6, MIXED, SPARSE, SLOW)


# ------------------------------------------------------------------------------------------ simulation
@dataclass
class Traffic:
    """What one scenario produced: rows to land and the truth to score against."""

    scenario: Scenario
    clicks: pl.DataFrame  # landing.clicks columns (tenant-less)
    purchases: pl.DataFrame  # one approved conversion per order (tenant-less)
    truth: pl.DataFrame  # order_id, buyer (session id or null), route


@dataclass
class _Person:
    kind: str  # home | cgnat | v6
    ua_class: str
    ua: str
    home_ip: str | None = None
    v6_prefix: str | None = None


class _Net:
    """Address allocation for one scenario (seeded)."""

    def __init__(self, sc: Scenario, rng: np.random.Generator) -> None:
        self.sc, self.rng = sc, rng
        self.home_blocks = rng.choice(2**16, size=max(1, sc.home_blocks), replace=False)
        self.pool = [
            f"187.{20 + b}.{100 + b}.{10 + (a * 7) % 240}"
            for a in range(sc.cgnat_addresses)
            for b in [a % max(1, sc.cgnat_blocks)]
        ]
        self.pool_weights = _zipf(len(self.pool), 0.3)
        self.used_prefixes: set[str] = set()

    def home(self) -> str:
        block = int(self.home_blocks[int(self.rng.integers(len(self.home_blocks)))])
        return (
            f"{170 + block // 256 % 16}.{block % 256}.{block // 4096 % 256}.{int(self.rng.integers(2, 254))}"
        )

    def carrier(self) -> str:
        return self.pool[int(self.rng.choice(len(self.pool), p=self.pool_weights))]

    def v6_prefix(self) -> str:
        while True:
            words = self.rng.integers(0, 2**16, size=3)
            prefix = f"2804:{words[0]:x}:{words[1]:x}:{words[2]:x}"
            if prefix not in self.used_prefixes:
                self.used_prefixes.add(prefix)
                return prefix

    def v6_address(self, prefix: str) -> str:
        iid = self.rng.integers(1, 2**16, size=4)
        return f"{prefix}:{iid[0]:x}:{iid[1]:x}:{iid[2]:x}:{iid[3]:x}"


def _person(sc: Scenario, rng: np.random.Generator, net: _Net) -> _Person:
    r = rng.random()
    kind = "v6" if r < sc.ipv6_share else ("cgnat" if r < sc.ipv6_share + sc.cgnat_share else "home")
    ua_class = _pick(rng, sc.ua_mix)
    if kind != "home" and ua_class == "desktop":  # carrier/IPv6 people are on phones
        ua_class = "android_chrome" if rng.random() < 0.6 else "ios_safari"
    person = _Person(kind=kind, ua_class=ua_class, ua=user_agent(rng, ua_class))
    if kind == "home":
        person.home_ip = net.home()
    elif kind == "v6":
        person.v6_prefix = net.v6_prefix()
    return person


def _landing_ip(person: _Person, net: _Net) -> str:
    if person.kind == "home":
        return person.home_ip  # type: ignore[return-value]
    if person.kind == "v6":
        return net.v6_address(person.v6_prefix)  # type: ignore[arg-type]
    return net.carrier()


def _checkout_ip(
    person: _Person, landed: str | None, sc: Scenario, rng: np.random.Generator, net: _Net
) -> str:
    if person.kind == "home":
        return person.home_ip  # type: ignore[return-value]
    if person.kind == "v6":
        if rng.random() < sc.v6_checkout_v4:
            return net.carrier()
        return net.v6_address(person.v6_prefix)  # type: ignore[arg-type]
    if landed is None or rng.random() < sc.rotation:
        return net.carrier()
    return landed


def _session(rng: np.random.Generator) -> str:
    chars = rng.choice(list(session_rule.ALPHABET), size=session_rule.RANDOM_LENGTH)
    return session_rule.PREFIX + "".join(chars)


def _fbclid(rng: np.random.Generator) -> str:
    alphabet = list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    return "IwAR" + "".join(rng.choice(alphabet, size=40))


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def simulate(sc: Scenario, start: datetime) -> Traffic:
    """Clicks from ``start`` on, purchases and their truth for ``sc`` (same seed, same traffic)."""
    rng = np.random.default_rng([sc.seed, *hashlib.sha256(sc.name.encode()).digest()[:4]])
    net = _Net(sc, rng)
    clicks: list[dict] = []
    visitors: list[tuple[_Person, str, datetime, str, str]] = []  # person, session, first, landing ip, fbc
    for _ in range(sc.visitors):
        person = _person(sc, rng, net)
        session = _session(rng)
        first = start + timedelta(seconds=float(rng.uniform(0, sc.visit_hours * 3600)))
        fbclid = _fbclid(rng)
        fbc = f"fb.1.{_ms(first)}.{fbclid}"
        fbp = f"fb.1.{_ms(first)}.{int(rng.integers(10**9, 2**31))}"
        ip = _landing_ip(person, net)
        visitors.append((person, session, first, ip, fbc))
        row = {
            "event_type": "click",
            "session_id": session,
            "occurred_at": first,
            "landing_url": f"https://shop.example/oferta?utm_source=facebook&fbclid={fbclid}",
            "fbclid": fbclid,
            "fbc": fbc,
            "fbp": fbp,
            "client_ip": ip,
            "user_agent": person.ua,
            "external_id": session,
        }
        clicks.append(row)
        for _ in range(int(rng.poisson(sc.pageviews_mean))):
            later = first + timedelta(seconds=float(rng.uniform(5, 1800)))
            clicks.append(
                {
                    **row,
                    "event_type": "pageview",
                    "occurred_at": later,
                    "landing_url": "https://shop.example/oferta/checkout",
                    "fbclid": None,
                }
            )

    n_organic = round(sc.purchases * sc.organic_share)
    n_ad = min(sc.purchases - n_organic, len(visitors))
    buyers = rng.choice(len(visitors), size=n_ad, replace=False)
    purchases: list[dict] = []
    truth: list[dict] = []
    for k, index in enumerate(buyers):
        person, session, first, landed, own_fbc = visitors[int(index)]
        delay = timedelta(minutes=float(rng.lognormal(np.log(sc.delay_median_minutes), sc.delay_sigma)))
        at = first + max(delay, timedelta(seconds=30))
        switched = rng.random() < sc.device_switch
        if switched:  # another device: a desktop at home, nothing in common with the click
            ip, ua = net.home(), user_agent(rng, "desktop")
        else:
            ip = _checkout_ip(person, landed, sc, rng, net)
            ua = default_browser(rng, person.ua_class) if rng.random() < sc.browser_change else person.ua
        carried = not switched and rng.random() >= sc.session_drop
        with_fbc = not carried and not switched and rng.random() < sc.fbc_share
        route = "session" if carried else ("fbc" if with_fbc else ("switched" if switched else "dropped"))
        fbc = own_fbc if with_fbc else None
        order = f"ad-{k:05d}"
        purchases.append(_purchase(rng, sc, order, at, ip, ua, session if carried else None, fbc))
        truth.append({"order_id": order, "buyer": session, "route": route})
    homes = [v for v in visitors if v[0].kind == "home"]
    for k in range(n_organic):
        person = _person(sc, rng, net)
        if homes and rng.random() < sc.household_share:  # lives with a visitor: same home address
            person.kind, person.home_ip = "home", homes[int(rng.integers(len(homes)))][0].home_ip
        at = start + timedelta(
            seconds=float(rng.uniform(0, sc.visit_hours * 3600)),
            minutes=float(rng.lognormal(np.log(sc.delay_median_minutes), sc.delay_sigma)),
        )
        ip = _checkout_ip(person, None, sc, rng, net)
        order = f"org-{k:05d}"
        purchases.append(_purchase(rng, sc, order, at, ip, person.ua, None, None))
        truth.append({"order_id": order, "buyer": None, "route": "organic"})

    ts = pl.Datetime("us", "UTC")
    click_frame = pl.DataFrame(
        clicks,
        schema={
            "event_type": pl.String,
            "session_id": pl.String,
            "occurred_at": ts,
            "landing_url": pl.String,
            "fbclid": pl.String,
            "fbc": pl.String,
            "fbp": pl.String,
            "client_ip": pl.String,
            "user_agent": pl.String,
            "external_id": pl.String,
        },
    ).sort("occurred_at")
    purchase_frame = pl.DataFrame(
        purchases,
        schema={
            "order_id": pl.String,
            "event_time": ts,
            "session_id": pl.String,
            "tracking": pl.String,
            "fbc": pl.String,
            "client_ip": pl.String,
            "user_agent": pl.String,
            "email_hash": pl.String,
        },
    ).sort("event_time")
    truth_frame = pl.DataFrame(truth, schema={"order_id": pl.String, "buyer": pl.String, "route": pl.String})
    return Traffic(sc, click_frame, purchase_frame, truth_frame)


def _purchase(
    rng: np.random.Generator,
    sc: Scenario,
    order: str,
    at: datetime,
    ip: str | None,
    ua: str | None,
    session: str | None,
    fbc: str | None,
) -> dict:
    return {
        "order_id": order,
        "event_time": at.replace(microsecond=0),
        "session_id": session,
        "tracking": f'{{"src": "{session}"}}' if session else "{}",
        "fbc": fbc,
        "client_ip": ip,
        "user_agent": None if rng.random() < sc.ua_missing else ua,
        "email_hash": hashlib.sha256(f"{sc.name}:{sc.seed}:{order}".encode()).hexdigest(),
    }
