"""Synthetic, realistic newsletter HTML of a requested size (for benchmarks).

Shaped like what mailing services send: table layout nested four or five deep, inline styles on
almost every element, a <style> block with @import, @font-face and media queries, a hidden
preheader, Outlook conditional comments, hero images with srcset, tracked links with long
per-recipient tokens, background attributes, spacer GIFs, social icons and open pixels.
Deterministic for a given (size, seed).

    python bench/newsletter.py 100000 > /tmp/news.html
"""

from __future__ import annotations

import random
import sys

_TEXT = (
    "spring sale new arrivals members only free shipping limited offer discover our latest "
    "collection styled for you this season exclusive early access the best picks from our "
    "editors read more about it shop now save up to percent on selected items while stocks last"
)
_WORDS = tuple(_TEXT.split())

_HEAD = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" \
"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:v="urn:schemas-microsoft-com:vml" \
xmlns:o="urn:schemas-microsoft-com:office:office">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta name="x-apple-disable-message-reformatting">
<title>{title}</title>
<!--[if mso]><xml><o:OfficeDocumentSettings><o:AllowPNG/><o:PixelsPerInch>96</o:PixelsPerInch>\
</o:OfficeDocumentSettings></xml><![endif]-->
<style type="text/css">
@import url("https://fonts.googleapis.com/css2?family=Roboto:wght@400;700&display=swap");
@import 'https://cdn.{brand}.example/css/email-fonts.css' screen;
@font-face {{
  font-family: 'Brand Sans';
  font-style: normal;
  font-weight: 400;
  src: url(https://cdn.{brand}.example/fonts/brand-sans.woff2) format('woff2'),
       url('https://cdn.{brand}.example/fonts/brand-sans.woff') format('woff'), local('Brand Sans');
}}
body, table, td, a {{ -webkit-text-size-adjust: 100%; -ms-text-size-adjust: 100%; }}
table, td {{ mso-table-lspace: 0pt; mso-table-rspace: 0pt; border-collapse: collapse; }}
img {{ -ms-interpolation-mode: bicubic; border: 0; height: auto; line-height: 100%; \
outline: none; text-decoration: none; }}
a[x-apple-data-detectors] {{ color: inherit !important; text-decoration: none !important; }}
.hero {{ background-image: url("https://img.{brand}.example/hero/bg-pattern.png"); \
background-repeat: repeat; }}
{rules}
@media only screen and (max-width: 600px) {{
  .wrapper {{ width: 100% !important; max-width: 100% !important; }}
  .mobile-hide {{ display: none !important; max-height: 0; overflow: hidden; }}
  .hero {{ background-image: url(https://img.{brand}.example/hero/bg-mobile.png) !important; }}
  .stack {{ display: block !important; width: 100% !important; }}
}}
</style>
</head>
<body style="margin:0; padding:0; background-color:#f4f4f4;" bgcolor="#f4f4f4">
<div style="display:none; font-size:1px; color:#f4f4f4; line-height:1px; max-height:0px; \
max-width:0px; opacity:0; overflow:hidden;">{preheader}{filler}</div>
<center>
<table role="presentation" border="0" cellpadding="0" cellspacing="0" width="100%" \
style="background-color:#f4f4f4;">
<tr><td align="center" valign="top" style="padding:20px 10px;">
<!--[if (gte mso 9)|(IE)]><table align="center" border="0" cellspacing="0" cellpadding="0" \
width="600"><tr><td align="center" valign="top" width="600"><![endif]-->
<table role="presentation" class="wrapper" border="0" cellpadding="0" cellspacing="0" \
width="600" style="max-width:600px; background-color:#ffffff;">
<tr><td align="center" style="padding:24px;"><a href="{link}" target="_blank">\
<img src="https://img.{brand}.example/logo.png" width="180" height="48" alt="{brand}" \
style="display:block; width:180px; max-width:180px; height:auto;" border="0"></a></td></tr>
"""

_RULE = ".c{n} {{ font-family: 'Brand Sans', Roboto, Arial, sans-serif; font-size: {size}px; \
line-height: {lh}px; color: #{color}; padding: {pad}px {pad2}px; }}\n"

_ARTICLE = """<tr><td class="hero" background="https://img.{brand}.example/hero/bg-{n}.jpg" \
bgcolor="#e8e8e8" valign="top" style="background-image:url('https://img.{brand}.example/hero/\
bg-{n}.jpg'); background-size:cover; padding:0;">
<!--[if gte mso 9]><v:rect xmlns:v="urn:schemas-microsoft-com:vml" fill="true" stroke="false" \
style="width:600px;height:300px;"><v:fill type="tile" src="https://img.{brand}.example/hero/\
bg-{n}.jpg" color="#e8e8e8" /><v:textbox inset="0,0,0,0"><![endif]-->
<table role="presentation" border="0" cellpadding="0" cellspacing="0" width="100%">
<tr><td align="center" style="padding:0;"><a href="{link}" target="_blank" \
style="text-decoration:none;"><img src="https://img.{brand}.example/products/{n}/600.jpg" \
srcset="https://img.{brand}.example/products/{n}/600.jpg 1x, \
https://img.{brand}.example/products/{n}/1200.jpg 2x" width="600" height="300" alt="{title}" \
style="display:block; width:100%; max-width:600px; height:auto; border:0;"></a></td></tr>
</table>
<!--[if gte mso 9]></v:textbox></v:rect><![endif]--></td></tr>
<tr><td class="c{rule}" style="padding:24px 32px 8px 32px; font-family:'Brand Sans', Roboto, \
Arial, sans-serif; font-size:22px; line-height:28px; color:#222222; font-weight:bold;">\
<h2 style="margin:0; font-size:22px; line-height:28px;">{title}</h2></td></tr>
<tr><td class="c{rule}" style="padding:0 32px 16px 32px; font-family:'Brand Sans', Roboto, \
Arial, sans-serif; font-size:16px; line-height:24px; color:#555555;">\
<p style="margin:0 0 12px 0;">{text}</p><p style="margin:0;">{text2} <a href="{link}" \
style="color:#0066cc; text-decoration:underline;">{more}</a></p></td></tr>
<tr><td align="center" style="padding:8px 32px 32px 32px;">
<table role="presentation" border="0" cellspacing="0" cellpadding="0"><tr>
<td class="stack" width="270" valign="top" style="padding:0 8px;"><img \
src="https://img.{brand}.example/products/{n}/a-270.jpg" width="270" height="270" alt="" \
style="display:block; width:270px; height:auto;"></td>
<td class="stack" width="270" valign="top" style="padding:0 8px;"><img \
src="https://img.{brand}.example/products/{n}/b-270.jpg" width="270" height="270" alt="" \
style="display:block; width:270px; height:auto;"></td></tr></table>
<table role="presentation" border="0" cellspacing="0" cellpadding="0" style="margin-top:16px;">\
<tr><td align="center" bgcolor="#0066cc" style="border-radius:4px; background-color:#0066cc;">\
<a href="{link}" target="_blank" style="display:inline-block; padding:12px 28px; \
font-family:Arial, sans-serif; font-size:16px; color:#ffffff; text-decoration:none; \
border-radius:4px;">Shop now &rarr;</a></td></tr></table>
</td></tr>
<tr><td style="padding:0 32px;"><img src="https://img.{brand}.example/spacer.gif" width="536" \
height="1" alt="" style="display:block; width:536px; height:1px;"></td></tr>
"""

_FOOTER = """<tr><td align="center" style="padding:24px 32px; background-color:#222222;">
<table role="presentation" border="0" cellspacing="0" cellpadding="0"><tr>
{social}</tr></table>
<p style="margin:16px 0 0 0; font-family:Arial, sans-serif; font-size:12px; line-height:18px; \
color:#999999;">You receive this e-mail because you subscribed at {brand}.example.<br>\
<a href="{unsubscribe}" style="color:#999999;">Unsubscribe</a> &middot; \
<a href="{link}" style="color:#999999;">View in browser</a> &middot; \
<a href="{link}" style="color:#999999;">Privacy policy</a></p>
</td></tr>
</table>
<!--[if (gte mso 9)|(IE)]></td></tr></table><![endif]-->
</td></tr>
</table>
</center>
<img src="https://click.{esp}.example/open.aspx?qs={token}" width="1" height="1" alt="" \
style="display:block; width:1px; height:1px; border:0;">
<img src="https://{esp}.example/track/open/{token2}.gif" width="1" height="1" border="0" alt="" \
style="height:1px !important; width:1px !important; border-width:0 !important;">
<div style="display:none;"><img src="https://pixel.{esp}.example/o/{token}" alt=""></div>
</body>
</html>
"""


def _token(rng: random.Random, n: int) -> str:
    return "".join(
        rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        for _ in range(n)
    )


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def generate(size: int, seed: int = 0) -> str:
    """A newsletter of about ``size`` characters (never much less, at most one article more)."""
    rng = random.Random(seed)
    brand = rng.choice(["shop", "outdoor", "bookclub", "fashion", "travel"])
    esp = rng.choice(["mailer", "sendgrid-like", "campaigns", "newsletters"])
    token = _token(rng, 40)

    def link() -> str:
        return (
            f"https://click.{esp}.example/ls/click?upn={_token(rng, 60)}"
            f"&amp;u={rng.randint(10**6, 10**7)}&amp;r={token}"
        )

    rules = "".join(
        _RULE.format(
            n=i,
            size=rng.choice([12, 14, 16, 18]),
            lh=rng.choice([18, 20, 24]),
            color=f"{rng.randrange(0x1000000):06x}",
            pad=rng.choice([0, 8, 16]),
            pad2=rng.choice([0, 16, 32]),
        )
        for i in range(40)
    )
    parts = [
        _HEAD.format(
            title=_sentence(rng, 5),
            brand=brand,
            rules=rules,
            preheader=_sentence(rng, 12),
            filler="&zwnj;&nbsp;" * 60,
            link=link(),
        )
    ]
    social = "".join(
        f'<td style="padding:0 6px;"><a href="{link()}"><img '
        f'src="https://img.{brand}.example/social/{name}.png" width="24" height="24" '
        f'alt="{name}" style="display:block;"></a></td>'
        for name in ("facebook", "instagram", "x", "youtube", "pinterest")
    )
    footer = _FOOTER.format(
        social=social,
        brand=brand,
        esp=esp,
        token=token,
        token2=_token(rng, 32),
        unsubscribe=link(),
        link=link(),
    )
    length = len(parts[0]) + len(footer)
    n = 0
    while length < size:
        article = _ARTICLE.format(
            brand=brand,
            n=n,
            rule=rng.randrange(40),
            title=_sentence(rng, 6),
            text=_sentence(rng, 40),
            text2=_sentence(rng, 25),
            more="Read more",
            link=link(),
        )
        parts.append(article)
        length += len(article)
        n += 1
    parts.append(footer)
    return "".join(parts)


newsletter = generate  # the name bench_parsers.py uses


if __name__ == "__main__":
    sys.stdout.write(generate(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
