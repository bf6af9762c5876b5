"""The tracker database: every family is recognised, and wanted content is not."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pixelwarden.model import PixelWardenError
from pixelwarden.trackers import TrackerDB

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


@pytest.fixture(scope="module")
def db() -> TrackerDB:
    return TrackerDB.bundled()


# One realistic open/click URL per service (tokens are made up, shapes are the vendors').
POSITIVES: list[tuple[str, str]] = [
    (
        "mailchimp",
        "https://shop.us5.list-manage.com/track/open.php?u=3a7c2f1b9e&id=8d1f0c2b4a&e=5c2e9a1f07",
    ),
    (
        "mandrill",
        "https://mandrillapp.com/track/open.php?u=30049571&id=2f8e2c1d9b0a4e7f",
    ),
    (
        "mandrill",
        "https://mandrill.shop.example/track/open.php?u=30049571&id=2f8e2c1d9b0a4e7f",
    ),
    (
        "sendgrid",
        "https://u33112967.ct.sendgrid.net/wf/open?upn=9Mlwg0jII8A1wPFGTPsK87rXVKEQ",
    ),
    (
        "sendgrid",
        "https://url4213.shop.example/wf/open?upn=u001.s4A7ZqC-2Ftxqw36qkcPzhAm-2BF5M",
    ),
    (
        "sendgrid",
        "https://url9810.shop.example/ss/o/u001.Kx3nB7wQp2Lm9vRt7Yz/4a1/Zx8yQw/ho.gif",
    ),
    (
        "amazon-ses",
        "https://a1b2c3d4.r.us-east-1.awstrack.me/I0/0100018c1e5a8f10-2b0e4f7c-9a1d-4c2b-000000/Ab1Cd2=349",
    ),
    (
        "amazon-ses",
        "https://track.shop.example/I0/0100018c1e5a8f10-2b0e4f7c-9a1d-4c2b-000000/Ab1Cd2=349",
    ),
    (
        "mailgun",
        "https://email.mg.shop.example/o/eJwljUEOgyAQAF9TjkQQFA8ceuk_yLKsSoqsAUzj71vTZE4zh4k-zqBH2Ikn",
    ),
    ("sparkpost", "https://spgo.io/q/7Tsb3JEQvHqV6Nn8r7Rf4A~~/AAAAAQA~/RgRn"),
    (
        "sparkpost",
        "https://click.shop.example/q/7Tsb3JEQvHqV6Nn8r7Rf4A~~/AAAAAQA~/RgRn",
    ),
    ("postmark", "https://pstmrk.it/open?m=v3_1.Ab1Cd2&d=1"),
    (
        "salesforce-mc",
        "https://click.email.shop.example/open.aspx?ffcb10-fe5b1077746104797c12-fdc2157873&d=100157&bmt=0",
    ),
    ("salesforce-mc", "https://cl.exct.net/open.aspx?ffcb10-fe5b10777461&d=10010"),
    (
        "hubspot",
        "https://i7.t.hubspotemail.net/e2t/to/VW9rW315v05wW4qdSHr8JW_bqW5_BCzp4lLJjvf9k7LYD22",
    ),
    (
        "hubspot",
        "https://www.shop.example/e2t/o/*W2PPG2f7XTbBMV93q3t1V2lKd0/*V4MJPv7hj9XpN5lqdRwsgYXn0/5/f18",
    ),
    (
        "hubspot-sales",
        "http://t.sidekickopen04.com/e1t/o/5/f18dQhb0S7lC8dDMPbW2n0x6l2B9nMJW7t5XZs",
    ),
    (
        "customerio",
        "https://e.customeriomail.com/e/o/eyJlbWFpbF9pZCI6IkRlenpCZ0lBQUFBQUFBQUEifQ==",
    ),
    (
        "customerio",
        "https://links.shop.example/e/o/eyJlbWFpbF9pZCI6IkRlenpCZ0lBQUFBQUFBQUEifQ==",
    ),
    ("klaviyo", "https://trk.klclick1.com/ls/click?upn=7ZpdBophAwrZEeo9o6yKdF"),
    ("klaviyo", "https://trk.klaviyomail.com/op/Ab12Cd"),
    (
        "iterable",
        "https://links.shop.example/e/eo?_t=8a4c1e2f0b9d4e7f&_m=93125f33ba814b13",
    ),
    ("constant-contact", "http://r20.rs6.net/on.jsp?a=1118715500493&r=3&c=4ef9c98"),
    ("campaign-monitor", "https://shop.cmail20.com/t/r-o-jhdkjlk-l-r/o.gif"),
    ("campaign-monitor", "https://shopco.createsend.com/t/y-o-abcdef/o.gif"),
    (
        "substack",
        "https://eotrx.substackcdn.com/open?token=eyJtIjoiMTIzIn0&user_id=1&post_id=2",
    ),
    (
        "brevo",
        "https://hgggdgi.r.bh.d.sendibt3.com/tr/op/CYIv2yvoVWHCvjQ__eO-QxCY-FkqVvmIP",
    ),
    ("brevo", "https://r.shop.example/tr/op/CYIv2yvoVWHCvjQ__eO-QxCY"),
    ("mailjet", "https://x9x26.mjt.lu/oo/AMYAABl_xSUAAAAAAAAAARHR9jkAAAAAjncAAAAA"),
    ("mailerlite", "https://click.mlsend.com/link/o/YT0xNTI5MjIwMjA4NTA4NTQwNDQ3"),
    ("activecampaign", "https://shop.lt.acemlnb.com/lt.php?x=41Zy~GE2J6PN5HV6"),
    ("drip", "https://t.dripemail2.com/o/eyJhY2NvdW50X2lkIjoiNDI1NDQ5NyJ9"),
    ("kit", "https://open.convertkit-mail2.com/38umxn6293skho4z69vfrh5655onn"),
    ("marketo", "https://info.shop.example/trk?t=1&mid=MTU3LUdRRS0zODI6MDoxMTA2NDUz"),
    ("pardot", "https://pi.pardot.com/r/123/t/abc.gif"),
    (
        "eloqua",
        "https://s1234.t.eloqua.com/e/FooterImages/FooterImage1?elq=e6d1559468b8&siteid=1234",
    ),
    (
        "eloqua",
        "https://app.engage.shop.example/e/FooterImages/FooterImage1?elq=e6d1559468b8",
    ),
    (
        "acoustic",
        "https://links.email.shop.example/eos/v1/WHNPdUtHdTdOU2FlUmZQSFU1MUJDN3Nt",
    ),
    (
        "responsys",
        "https://e.shop.example/pub/as?_ri_=X0Gzc2X%3DYQpglLjHJlTQGlvcCo7fK590&_ei_=Ep",
    ),
    (
        "emarsys",
        "https://link.shop.example/u/nrd.php?p=RMqjfMYdzc_5188_3945029_1_4&ems_l=678383",
    ),
    ("selligent", "https://shop.slgnt.eu/optiext/optiextension.dll?ID=Ab12Cd34"),
    ("benchmark", "https://clt1381227.bmetrack.com/c/o?e=1076A1C&c=30209&t=1"),
    ("verticalresponse", "http://cts.vresp.com/o/?ShopCo/78604669ff/3eed"),
    ("icontact", "https://click.icptrack.com/icp/track.php?msgid=2&act=11111"),
    ("listrak", "https://s1.listrakbi.com/t/o.gif?e=1"),
    (
        "bluecore",
        "https://www.bluecore.com/api/track/purchase_pixel?token=shop&email=x",
    ),
    ("cordial", "https://track.sp.crdl.io/q/xyz123"),
    (
        "keap",
        "https://fd338.infusion-links.com/api/v1/click/6626750413275136/506578673",
    ),
    (
        "squarespace-email",
        "https://f69e.engage.squarespace-mail.com/v2/a.gif?m=66474fd5de203b40&w=5fdc06",
    ),
    (
        "elastic-email",
        "https://17ZJK.trk.elasticemail.com/tracking/open?msgid=gEAlZmPqc_Lk_oJZdWmiqA2&c=1",
    ),
    ("smtp2go", "https://track.smtp2go.net/o/Ab12Cd34"),
    ("emailit", "https://go.emailitmail.com/o/Ab12Cd34"),
    ("clickdimensions", "https://elink.clickdimensions.com/m/1/12345"),
    (
        "liveintent",
        "http://li.shop.example/imp?s=155386&layout=marquee&li=Daily&m=d08dd77fc8960dfee70de15c00ce42a2",
    ),
    (
        "mailtrack",
        "https://mailtrack.io/trace/mail/4a1b2c3d4e5f60718293a4b5c6d7e8f901234567.png?u=123",
    ),
    ("yesware", "https://t.yesware.com/t/abc/def/spacer.gif"),
    ("mixmax", "https://track.mixmax.com/api/track/v2/Ab12/o.gif"),
    ("superhuman", "https://r.superhuman.com/Ab12Cd34.gif"),
    (
        "streak",
        "https://mailfoogae.appspot.com/t?sender=aZm9vQGV4YW1wbGUuY29t&type=zerocontent&guid=1",
    ),
    (
        "mailbutler",
        "https://bowtie.mailbutler.io/tracking/hit/6bb781f1-7551-453d-88ce-7a/t.gif",
    ),
    ("boomerang", "http://mailstat.us/tr/t/p2yekqgmbo6rhhifw6i9/3/"),
    ("outreach", "https://abc.outrch.com/api/mailings/opened/Ab12.gif"),
    ("instantly", "https://prox.itrackly.com/o/Ab12Cd"),
    ("smartlead", "https://open.sleadtrack.com/o/Ab12Cd"),
    ("unipile", "https://track.lnk-fllw.com/o/Ab12Cd"),
    (
        "front",
        "https://app.frontapp.com/api/1/noauth/companies/front/seen/msg_80hpmtf/han_k81flv/2396a",
    ),
    (
        "google-analytics",
        "https://www.google-analytics.com/collect?v=1&tid=UA-1234-5&cid=555&t=event",
    ),
    ("litmus", "https://5poe2t9x.emltrk.com/v2/5poe2t9x?i=616897262&t=nl"),
    ("email-on-acid", "https://B2ccbsz7BC.eoapxl.com/b2ccbsz7BC/P"),
    ("adobe-analytics", "https://shop.sc.omtrdc.net/b/ss/shoprsid/1?AQB=1"),
    (
        "doubleclick",
        "http://ad.doubleclick.net/adi/dilbert.email.com/email/;sz=468x60;ord=",
    ),
    ("atlas", "http://view.atdmt.com/avenuea/view/msn001/direct/01/time=12679"),
    (
        "rakuten-advertising",
        "http://ad.linksynergy.com/fs-bin/show?id=vdKWfulJxTQ&type=4",
    ),
    ("cj-affiliate", "http://www.qksrv.net/image-471546-7064313"),
    ("openx", "http://livingsocial-d.openx.net/e/1.0/ai?auid=538021210"),
    ("hitbox", "http://ai.hitbox.com/ai?hb=DM520329A1SZ95EN3&ai=NL6964"),
    ("msn-beacon", "http://c.msn.com/c.gif?NC=9523&NA=34131"),
    ("linkedin", "https://www.linkedin.com/emimp/ip_Ab12Cd34.gif"),
    ("facebook", "https://www.facebook.com/email_open_log_pic.php?mid=Ab12Cd34"),
    ("twitter", "https://twitter.com/scribe/ibis?t=1&cn=Ab12&iid=1"),
    ("twitter", "https://x.com/scribe/ibis?t=1&cn=Ab12"),
    ("reddit", "https://click.redditmail.com/CL0/https:%2F%2Fwww.reddit.com%2F/1/Ab12"),
    ("medium", "https://medium.com/_/stat?event=email.opened&sourceId=1"),
    (
        "beehiiv",
        "https://link.mail.beehiiv.com/ss/o/u001.u7AEjFG7xD7PeXgObD5uIw5ddFRsd/4a1/Ab/ho.gif",
    ),
    (
        "wix-shoutout",
        "https://shoutout.wix.com/so/pixel/17f71be5-0cba-4ed4-9e6b-b06ae00aca",
    ),
    (
        "mailpoet",
        "https://blog.example/?mailpoet&endpoint=track&action=open&data=WyIxIiwiMiJd",
    ),
    (
        "twelvehorses",
        "http://www.twelvehorses.com/mm/MarkRead?m=27021558&c=23333143&w=23317062",
    ),
    (
        "netflix",
        "https://beaconimages.netflix.net/img/BAQgBEAEagAN2THSsgosiINnMMOKPnivWLqJPSwxtlVio",
    ),
    (
        "github",
        "https://github.com/notifications/beacon/AZR1R0GZcFPJKnweFfaOV02aqt8Oj37Dks5rnc.gif",
    ),
    (
        "acoustic",
        "https://links.email1.shop.example/els/v2/qjL7S0R8KGS97/cjJvcENwbjZTNWdN",
    ),
    (
        "attentive",
        "https://shop.attentivemail.com/ss/o/u001.6x9r1fsrCn5_kOCShC5EZg/4qe/Ab/ho.gif",
    ),
    ("mailersend", "https://abc123.click.mailersend.net/Ab12Cd34Ef"),
    ("dotdigital", "https://r1.dmtrk.net/3NXS-8FGM-4Z9A1F-1S2B3C-1/c.aspx"),
    ("dotdigital", "https://webinsight.s3.amazonaws.com/abc.gif"),
    ("direct-mail", "https://dmanalytics1.com/open/Ab12Cd34"),
    ("apollo", "https://aplolinks.com/o/Ab12Cd34"),
    ("apsis", "https://tr.aonetrk.com/c/owSY9SzA7IoD7"),
    ("smartreach", "https://srmailerapp.com/o/Ab12Cd34"),
    ("targetcircle", "https://custom-i01.trackmytarget.com/i/Ab12"),
    ("yahoo-adserver", "http://adserver.yahoo.com/a?f=12790524&p=news&l=N"),
    ("burst-media", "http://www.burstnet.com/cgi-bin/ads/ad8223a.cgi/ns"),
]


@pytest.mark.parametrize(("service_id", "url"), POSITIVES)
def test_known_tracker_urls_match_their_service(db: TrackerDB, service_id: str, url: str) -> None:
    match = db.match(url)
    assert match is not None, url
    assert match.service_id == service_id
    service = db.service(service_id)
    assert service is not None
    assert (match.name, match.company, match.category) == (
        service.name,
        service.company,
        service.category,
    )
    assert match.rule and match.source == "; ".join(service.source)


def test_every_tracking_service_has_a_positive_case(db: TrackerDB) -> None:
    covered = {sid for sid, _ in POSITIVES}
    with_rules = {s.id for s in db if s.is_tracker and (s.hosts or s.paths)}
    assert with_rules - covered == set()


NEGATIVES = [
    # campaign content on the mailing services' own content hosts
    "https://mcusercontent.com/65696a478a009df233f128d88/images/18e89cf0-99a4-dc42.png",
    "https://gallery.mailchimp.com/8c1f0e2b/images/5a6b-logo.png",
    "https://us5.list-manage.com/subscribe?u=3a7c2f1b9e&id=8d1f0c2b4a",
    "https://cdn.mcauto-images-production.sendgrid.net/d32bcc04af917745/78961ede/900x400.jpg",
    "https://image.s7.sfmc-content.com/lib/fe2a11717d640474741277/m/1/7698e693.jpg",
    "https://shop.cdn.salesforce-experiences.com/cms/delivery/media/MC123",
    "https://6778953.fs1.hubspotusercontent-na1.net/hubfs/6778953/logo.png",
    "https://files.constantcontact.com/722dd1fd001/f678838f-9d37-4b3b.jpg",
    "https://i.emlfiles4.com/cmpimg/1/2/3/4/logo.png",
    "https://embed.filekitcdn.com/e/qH3zYM66ACnU9H1etxAaxA/6ZiGp5ARywjKsh",
    "https://substackcdn.com/image/fetch/w_1456,c_limit/https%3A%2F%2Fsubstack-post-media.png",
    "https://x9x26.mjt.lu/img/Ab12/logo.png",
    "https://i1.createsend1.com/ei/r/29/abc/logo.png",
    "https://mailtrack.io/static/signature-logo.png",
    "https://cijijea.r.bh.d.sendibt3.com/im/2898940/536a87a1a70bc7f4.png",
    "https://assets.mlcdn.com/ml/images/icons/default/round/black/twitter.png",
    "https://braze-images.com/appboy/communication/assets/image_assets/images/logo.png",
    "https://img1.niftyimages.com/vmjh/hi57/ns9p",
    "https://images.squarespace-cdn.com/content/5fdc0617/e9359da8/xx.png",
    # customer-subdomain path rules demand the token or query shape, not just the path
    "https://email.shop.example/o/logo.png",
    "https://email.shop.example/o/spacer.gif",
    "https://email.shop.example/o/summer-sale-banner-2024-final",
    "https://email.shop.example/o/Ab1",
    "https://www.shop.example/e2t/o/",
    "https://www.shop.example/wf/open",
    "https://www.shop.example/wf/open?xupn=1&a=upn",
    "https://www.shop.example/open.aspx",
    "https://www.shop.example/track/open.php",
    "https://www.shop.example/I0/logo.png",
    "https://www.shop.example/i0/about-us",
    "https://click.shop.example/q/summer-sale",
    "https://links.shop.example/e/o/banner.jpg",
    "https://news.shop.example/images/spacer.gif",
    "https://news.shop.example/trk/logo.png",
    # ordinary pages of the social networks
    "https://www.linkedin.com/company/pyramid-consulting",
    "https://www.facebook.com/PyramidConsultingInc",
    "https://github.com/octocat/Hello-World",
    # look-alike names: suffixes match whole labels only
    "https://notsendgrid.net/wf/click",
    "https://list-manage.com.evil.example/track/open.php",
    "https://evilrs6.net/on.jsp",
    # not http(s) URLs at all
    "cid:part1.06090408.01060107@example.com",
    "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
    "",
    "https://",
    "https:///path-only",
]


@pytest.mark.parametrize("url", NEGATIVES)
def test_wanted_content_and_ordinary_paths_are_not_trackers(db: TrackerDB, url: str) -> None:
    assert db.match(url) is None


def test_rule_and_source_say_why(db: TrackerDB) -> None:
    host = db.match("https://shop.us5.list-manage.com/track/open.php?u=1&id=2")
    assert host is not None and host.rule == "host list-manage.com path /track/open.php"
    path = db.match(
        "https://email.mg.shop.example/o/eJwljUEOgyAQAF9TjkQQFA8ceuk_yLKsSoqsAUzj71vTZE4z"
    )
    assert path is not None and path.rule == "path /o/<b64:40+>"
    assert "mailgun" in path.source
    query = db.match("https://url1.shop.example/wf/open?upn=u001.Ab12")
    assert query is not None and query.rule == "path /wf/open?upn"


@pytest.mark.parametrize(
    "url",
    [
        "HTTPS://U33112967.CT.SENDGRID.NET/wf/open?upn=x",
        "https://u33112967.ct.sendgrid.net./wf/open?upn=x",
        "https://u33112967.ct.sendgrid.net:443/wf/open?upn=x",
        "https://user:pw@u33112967.ct.sendgrid.net/wf/open?upn=x",
        "//u33112967.ct.sendgrid.net/x",
        "https://u33112967.ct.sendgrid.net#frag",
        "https://u33112967.ct.sendgrid.net?x=1",
    ],
)
def test_hosts_are_normalised(db: TrackerDB, url: str) -> None:
    match = db.match(url)
    assert match is not None and match.service_id == "sendgrid"


def test_query_and_fragment_do_not_count_as_path(db: TrackerDB) -> None:
    assert db.match("https://shop.example/page?next=/wf/open&upn=1") is None
    assert (
        db.match("https://shop.example/page#/o/eJwljUEOgyAQAF9TjkQQFA8ceuk_yLKsSoqsAUzj71vTZE4z")
        is None
    )


def _data(**service: Any) -> dict[str, Any]:
    base = {
        "id": "acme",
        "name": "Acme Mail",
        "company": "Acme",
        "category": "esp",
        "source": "x",
    }
    base.update(service)
    return {"schema": 1, "updated": "2026-01-01", "services": [base], "hosting": []}


def test_idna_hosts_match_their_xn_form() -> None:
    db = TrackerDB.from_dict(_data(hosts=["xn--bcher-kva.example"]))
    match = db.match("https://Pixel.Bücher.example./o.gif")
    assert match is not None and match.service_id == "acme"
    assert db.cname_service("BÜCHER.example") is not None


def test_injected_data_goes_through_the_same_parameters() -> None:
    db = TrackerDB.from_dict(
        _data(
            paths=[{"path": "/px/", "token": {"shape": "hex", "min": 16}}],
            content_hosts=["img.acme.example"],
            cname_targets=["track.acme.example"],
        )
    )
    assert db.match("https://news.shop.example/px/0123456789abcdef0123") is not None
    assert db.match("https://news.shop.example/px/not-a-token-at-all") is None
    assert db.content_host("a.img.acme.example") is not None
    assert db.cname_service("eu.track.acme.example") is not None
    assert db.cname_service("img.acme.example") is None
    assert [s.id for s in db.services] == ["acme"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"schema": 2, "services": [], "hosting": []}, "schema"),
        (_data(category="spyware", hosts=["a.example"]), "category"),
        (_data(source=[], hosts=["a.example"]), "source"),
        (_data(hosts=["Track.Example"]), "lower-case"),
        (_data(hosts=["example"]), "lower-case"),
        (_data(), "no rules"),
        (_data(paths=[{"path": "/o/"}]), "needs a token or params"),
        (_data(paths=[{"path": "/O/", "host": "a.example"}]), "lower case"),
        (
            _data(paths=[{"path": "/o", "token": {"shape": "b64", "min": 20}}]),
            "ending in '/'",
        ),
        (_data(paths=[{"path": "/o/", "token": {"shape": "b64", "min": 2}}]), "min"),
        (_data(hosts=["a.example"], colour="red"), "unknown fields"),
        (_data(hosts=["a.example", "a.example"]), "duplicates"),
        (
            _data(paths=[{"path": "/t", "params": ["a"]}, {"path": "/t", "params": ["a"]}]),
            "duplicate rule",
        ),
    ],
)
def test_bad_data_is_a_structured_error(data: dict[str, Any], message: str) -> None:
    with pytest.raises(PixelWardenError) as caught:
        TrackerDB.from_dict(data)
    assert caught.value.code == "tracker_data_invalid"
    assert message in caught.value.message


def test_two_services_cannot_claim_one_host() -> None:
    data = _data(hosts=["t.example"])
    data["services"].append(dict(data["services"][0], id="other"))
    with pytest.raises(PixelWardenError, match="listed twice"):
        TrackerDB.from_dict(data)


def test_not_json_is_a_structured_error() -> None:
    with pytest.raises(PixelWardenError) as caught:
        TrackerDB.from_json(b"{not json")
    assert caught.value.code == "tracker_data_invalid"


# --- CNAME hops and hosting -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "service_id"),
    [
        ("sendgrid.net", "sendgrid"),
        ("u1234567.wl068.sendgrid.net", "sendgrid"),
        ("EU.SENDGRID.NET.", "sendgrid"),
        ("mailgun.org", "mailgun"),
        ("eu.mailgun.org", "mailgun"),
        ("e.customeriomail.com", "customerio"),
        ("e-eu.customeriomail.com", "customerio"),
        ("s7.exacttarget.com", "salesforce-mc"),
        ("go.pardot.com", "pardot"),
        ("track.pstmrk.it", "postmark"),
        ("eu.spgo.io", "sparkpost"),
        ("r.us-east-1.awstrack.me", "amazon-ses"),
        ("custom.lemlist.com", "lemlist"),
        ("prox.itrackly.com", "instantly"),
        ("open.sleadtrack.com", "smartlead"),
        ("track.smtp2go.net", "smtp2go"),
        ("track.sp.crdl.io", "cordial"),
        ("links.iterable.com", "iterable"),
        ("links.eu.iterable.com", "iterable"),
        ("t.mailjet.com", "mailjet"),
        ("mandrillapp.com", "mandrill"),
        ("campaigns.cs.zohohost.com", "zoho-campaigns"),
        ("app.boltmail.nz", "boltmail"),
        ("r2.ddlnk.com", "dotdigital"),
        ("myaccount.activehosted.com", "activecampaign"),
    ],
)
def test_cname_hops_into_mailing_services(db: TrackerDB, host: str, service_id: str) -> None:
    service = db.cname_service(host)
    assert service is not None and service.id == service_id


@pytest.mark.parametrize(
    "host",
    [
        "cdn.mcauto-images-production.sendgrid.net",  # SendGrid's image CDN is content
        "mcusercontent.com",
        "d111111abcdef8.cloudfront.net",
        "shop.example",
        "notsendgrid.net",
        "sendgrid.net.evil.example",
        "",
        ".",
    ],
)
def test_other_hops_are_not_tracking_services(db: TrackerDB, host: str) -> None:
    assert db.cname_service(host) is None


@pytest.mark.parametrize(
    "host",
    [
        "d111111abcdef8.cloudfront.net",
        "e1234.a.akamaiedge.net",
        "shop.com.edgekey.net",
        "shop.map.fastly.net",
        "shop.com.cdn.cloudflare.net",
        "shop.azureedge.net",
        "shop.blob.core.windows.net",
        "storage.googleapis.com",
        "ghs.googlehosted.com",
        "shop-images.s3.eu-west-1.amazonaws.com",
        "SHOP.NETLIFY.APP.",
    ],
)
def test_hosting_providers(db: TrackerDB, host: str) -> None:
    assert db.is_hosting(host)


@pytest.mark.parametrize(
    "host",
    [
        "shop.example",
        "evilcloudfront.net",
        "cloudfront.net.evil.example",
        "sendgrid.net",
    ],
)
def test_not_hosting(db: TrackerDB, host: str) -> None:
    assert not db.is_hosting(host)


def test_a_tracker_inside_a_hosting_suffix_is_not_hosting() -> None:
    data = _data(cname_targets=["trk.cloudfront.net"])
    data["hosting"] = [{"suffix": "cloudfront.net", "name": "CloudFront", "source": "x"}]
    db = TrackerDB.from_dict(data)
    assert db.is_hosting("d1.cloudfront.net")
    assert not db.is_hosting("a.trk.cloudfront.net")
    assert db.cname_service("a.trk.cloudfront.net") is not None


@pytest.mark.parametrize(
    ("host", "service_id"),
    [
        ("mcusercontent.com", "mailchimp"),
        ("gallery.mailchimp.com", "mailchimp"),
        ("substackcdn.com", "substack"),
        ("cdn.mcauto-images-production.sendgrid.net", "sendgrid"),
        ("braze-images.com", "braze"),
        ("img1.niftyimages.com", "nifty-images"),
    ],
)
def test_content_hosts_name_their_service(db: TrackerDB, host: str, service_id: str) -> None:
    service = db.content_host(host)
    assert service is not None and service.id == service_id


def test_tracking_hosts_are_not_content(db: TrackerDB) -> None:
    assert db.content_host("eotrx.substackcdn.com") is None
    assert db.content_host("u1.ct.sendgrid.net") is None


def test_bundled_database_is_loaded_once() -> None:
    assert TrackerDB.bundled() is TrackerDB.bundled()


# --- real mail ----------------------------------------------------------------------------------

_SRC = re.compile(rb"""src=3?D?["']?(https?://[^"'\s>]+)""", re.IGNORECASE)


@pytest.mark.parametrize(
    ("name", "service_id"),
    [
        ("phishing-pot/sample-585.eml", "sendgrid"),
        ("phishing-pot/sample-4197.eml", "sendgrid"),
        ("phishing-pot/sample-6063.eml", "salesforce-mc"),
        ("phishing-pot/sample-402.eml", "elastic-email"),
        ("phishing-pot/sample-3250.eml", "squarespace-email"),
    ],
)
def test_corpus_messages_show_their_mailing_service(
    db: TrackerDB, name: str, service_id: str
) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    urls = [
        m.group(1).decode("latin-1").replace("&amp;", "&") for m in _SRC.finditer(path.read_bytes())
    ]
    found = {match.service_id for url in urls if (match := db.match(url))}
    assert service_id in found


# --- no input makes the database raise ----------------------------------------------------------


_URLISH = st.builds(
    lambda scheme, host, path: f"{scheme}//{host}{path}",
    st.sampled_from(["https:", "http:", "", "HTTPS:", "ftp:"]),
    st.text(max_size=40),
    st.text(max_size=60),
)


@given(st.one_of(st.text(max_size=200), _URLISH))
def test_no_text_makes_the_database_raise(text: str) -> None:
    db = TrackerDB.bundled()
    result = db.match(text)
    assert result is None or result.service_id
    for question in (db.cname_service, db.content_host, db.hosting_provider):
        question(text)
    assert db.is_hosting(text) in (True, False)
