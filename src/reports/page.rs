//! `GET /event/{id}`: the organizers' report page, one self-contained HTML document rendered
//! here (no script from elsewhere, no CDN; a few lines of inline script only sort the tables).
//! It is the page the post-edit notification links to, so it must make sense to someone who
//! has never seen the API: the event's facts and window in its own time zone, the summary in
//! words, edits per local day as a small SVG chart, the participants' and pages' tables, and
//! links to the CSV, the Atom feed and the JSON.
//!
//! Private participants are hidden as on every other route: the reader is decided by
//! `association::http::reader` (a token, or the wiki's cookies with `?wiki=`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use warp::http::HeaderValue;
use warp::reply::Response;
use warp::Reply;

use crate::association::db as contributions;
use crate::association::http::reader;
use crate::events::http::existing_event;
use crate::gateway::{ApiError, Request};
use crate::reports::db::{self, PageTotals, ParticipantTotals};
use crate::reports::Context;

/// Rows shown in each table; the CSV and the JSON routes have every one.
const TABLE_ROWS: i64 = 500;

fn esc(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}

fn attr(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

/// A number with thin thousands separators, as people read them.
fn num(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{} {}", num(n), if n == 1 { one } else { many })
}

fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%-d %B %Y, %H:%M").to_string()
}

/// Edits per local day of the event's time zone, from quarter-hour buckets.
pub fn per_local_day(buckets: &[(DateTime<Utc>, i64)], tz: Tz) -> BTreeMap<NaiveDate, i64> {
    let mut days = BTreeMap::new();
    for (at, n) in buckets {
        *days.entry(at.with_timezone(&tz).date_naive()).or_insert(0) += n;
    }
    days
}

/// A bar chart of edits per day, every day of the window shown (days without edits too).
fn chart(days: &BTreeMap<NaiveDate, i64>, first: NaiveDate, last: NaiveDate) -> String {
    let span = (last - first).num_days().clamp(0, 366) + 1;
    let all: Vec<(NaiveDate, i64)> = (0..span)
        .filter_map(|i| first.checked_add_days(chrono::Days::new(i as u64)))
        .map(|d| (d, days.get(&d).copied().unwrap_or(0)))
        .collect();
    let max = all.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let (w, h, bar_gap) = (720.0_f64, 160.0_f64, 2.0_f64);
    let bar = (w / all.len().max(1) as f64 - bar_gap).max(1.0);
    let mut svg = format!(
        "<svg id=\"per-day\" role=\"img\" viewBox=\"0 0 {w} {}\" width=\"100%\" \
         aria-label=\"Edits per day\"><title>Edits per day</title>",
        h + 34.0
    );
    for (i, (day, n)) in all.iter().enumerate() {
        let bh = if *n == 0 {
            0.0
        } else {
            (h * *n as f64 / max as f64).max(1.0)
        };
        let x = i as f64 * (bar + bar_gap);
        let _ = write!(
            svg,
            "<rect class=\"day\" data-day=\"{day}\" data-value=\"{n}\" x=\"{x:.1}\" y=\"{:.1}\" \
             width=\"{bar:.1}\" height=\"{bh:.1}\"><title>{}: {}</title></rect>",
            h - bh,
            day.format("%-d %b %Y"),
            plural(*n, "edit", "edits"),
        );
    }
    let label = |d: NaiveDate| d.format("%-d %b").to_string();
    let _ = write!(
        svg,
        "<text x=\"0\" y=\"{}\">{}</text><text x=\"{w}\" y=\"{}\" text-anchor=\"end\">{}</text>\
         <text x=\"{w}\" y=\"12\" text-anchor=\"end\">max {}</text></svg>",
        h + 22.0,
        label(first),
        h + 22.0,
        label(last),
        num(max)
    );
    svg
}

/// A number cell: shown with separators, sorted by its value.
fn push_num(t: &mut String, n: i64) {
    let _ = write!(t, "<td class=\"n\" data-v=\"{n}\">{}</td>", num(n));
}

fn participants_table(rows: &[ParticipantTotals]) -> String {
    let mut t = String::from(
        "<table id=\"participants\" class=\"sortable\"><thead><tr><th>Participant</th>\
         <th class=\"n\">Edits</th><th class=\"n\">Articles created</th>\
         <th class=\"n\">Bytes added</th><th class=\"n\">Bytes removed</th>\
         <th class=\"n\">Links added</th><th class=\"n\">References added</th></tr></thead><tbody>",
    );
    for p in rows {
        let _ = write!(t, "<tr><td>{}</td>", esc(&p.user_name));
        for n in [
            p.edits,
            p.articles_created,
            p.bytes_added,
            p.bytes_removed,
            p.links_added,
            p.refs_added,
        ] {
            push_num(&mut t, n);
        }
        t.push_str("</tr>");
    }
    t.push_str("</tbody></table>");
    t
}

fn pages_table(rows: &[PageTotals], multi_wiki: bool) -> String {
    let mut t = String::from("<table id=\"pages\" class=\"sortable\"><thead><tr><th>Page</th>");
    if multi_wiki {
        t.push_str("<th>Wiki</th>");
    }
    t.push_str(
        "<th class=\"n\">Edits</th><th class=\"n\">Contributors</th><th>Created in the event</th>\
         <th class=\"n\">Bytes added</th><th class=\"n\">Bytes removed</th>\
         <th class=\"n\">Links added</th><th class=\"n\">References added</th></tr></thead><tbody>",
    );
    for p in rows {
        let _ = write!(t, "<tr><td>{}</td>", esc(&p.page_title));
        if multi_wiki {
            let _ = write!(t, "<td>{}</td>", esc(&p.wiki_id));
        }
        push_num(&mut t, p.edits);
        push_num(&mut t, p.contributors);
        let _ = write!(
            t,
            "<td>{}</td>",
            if p.created_in_event { "yes" } else { "" }
        );
        for n in [p.bytes_added, p.bytes_removed, p.links_added, p.refs_added] {
            push_num(&mut t, n);
        }
        t.push_str("</tr>");
    }
    t.push_str("</tbody></table>");
    t
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 1.5rem;color:#202122}\
h1{font-size:1.8rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #c8ccd1}\
.facts{color:#54595d}.summary{font-size:1.1rem;background:#eaf3ff;padding:.8rem 1rem;border-radius:4px}\
table{border-collapse:collapse;width:100%;font-size:.95rem}th,td{padding:.3rem .5rem;border-bottom:1px solid #eaecf0;text-align:left}\
th{cursor:pointer;background:#f8f9fa;user-select:none}th.n,td.n{text-align:right}\
rect.day{fill:#36c}svg text{font-size:12px;fill:#54595d}.links a{margin-right:1rem}.note{color:#72777d;font-size:.9rem}";

/// Sorts a table by the clicked column: numbers by their `data-v`, text as text; a second
/// click reverses.
const SORT_SCRIPT: &str = "document.querySelectorAll('table.sortable th').forEach(function(th,i){\
th.title='Sort';th.addEventListener('click',function(){var tb=th.closest('table').tBodies[0];\
var desc=th.dataset.dir!=='desc';th.dataset.dir=desc?'desc':'asc';\
var rows=Array.prototype.slice.call(tb.rows);rows.sort(function(a,b){var x=a.cells[i],y=b.cells[i];\
var r=('v' in x.dataset)?(Number(x.dataset.v)-Number(y.dataset.v)):x.textContent.localeCompare(y.textContent);\
return desc?-r:r;});rows.forEach(function(r){tb.appendChild(r);});});});";

/// `GET /event/{id}`.
pub async fn page(req: Request<Context>) -> Result<Response, ApiError> {
    let state = &req.state;
    let event = req.event_id()?;
    // `wiki` names the wiki whose session cookies sign the reader in (a page opened from a
    // link sends no Origin); the page's own links carry it on.
    let wiki = req.query.wiki()?;
    let record = existing_event(&state.pool, event).await?;
    let reader = reader(&req, &record);
    let facts = &record.facts;
    let signed = wiki
        .as_ref()
        .map(|w| format!("?wiki={}", attr(w.as_str())))
        .unwrap_or_default();
    let tz = Tz::from_str(facts.timezone.as_str()).unwrap_or(chrono_tz::UTC);
    let summary = contributions::summary(&state.pool, event).await?;
    let people = db::participants(&state.pool, event, reader, TABLE_ROWS, 0).await?;
    let pages = db::pages(&state.pool, event, TABLE_ROWS, 0).await?;
    let days = per_local_day(&db::edits_per_quarter_hour(&state.pool, event).await?, tz);
    let rechecked = match crate::association::recheck::last_checked(&state.pool, event).await? {
        Some(t) => format!(
            "Rows were last re-checked against the wiki on {} ({}): edits whose page was \
             since deleted, or whose text or author the wiki hid, are left out.",
            local(t, tz),
            esc(facts.timezone.as_str())
        ),
        None if summary.edits == 0 => String::new(),
        None => "Some rows have not been re-checked against the wiki yet (it happens every \
                 hour): an edit whose page was deleted since may still count."
            .to_owned(),
    };

    let name = esc(facts.name.as_str());
    let window = format!(
        "{} – {} ({})",
        local(facts.window.start(), tz),
        local(facts.window.end(), tz),
        esc(facts.timezone.as_str())
    );
    let wikis = match facts.wikis.to_wire().as_slice() {
        [all] if all == "*all*" => "every wiki".to_owned(),
        list => esc(&list.join(", ")),
    };
    let words = if summary.edits == 0 {
        "No edits have been associated with this event yet.".to_owned()
    } else {
        format!(
            "{} made {} to {} on {}, creating {}. They added {} and removed {}, \
             added {} and removed {}, and added {}.",
            plural(summary.participants, "participant", "participants"),
            plural(summary.edits, "edit", "edits"),
            plural(summary.articles_edited, "page", "pages"),
            plural(summary.wikis, "wiki", "wikis"),
            plural(summary.articles_created, "new article", "new articles"),
            plural(summary.bytes_added, "byte", "bytes"),
            num(summary.bytes_removed),
            plural(summary.links_added, "link", "links"),
            num(summary.links_removed),
            plural(summary.refs_added, "reference", "references"),
        )
    };
    let first_day = facts.window.start().with_timezone(&tz).date_naive();
    let now_day = state.clock.now().with_timezone(&tz).date_naive();
    let last_day = facts
        .window
        .end()
        .with_timezone(&tz)
        .date_naive()
        .min(now_day.max(first_day));
    let base = "/rest.php/campaignevents/v0/event_registration";
    let more = |shown: usize, total: i64, what: &str| {
        if (shown as i64) < total {
            format!(
                "<p class=\"note\">The {TABLE_ROWS} with the most edits of {} {what}; the CSV has them all.</p>",
                num(total)
            )
        } else {
            String::new()
        }
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{name} — results</title><style>{STYLE}</style>\
         <link rel=\"alternate\" type=\"application/atom+xml\" href=\"{base}/{event}/contributions.atom{signed}\"></head>\
         <body><h1>{name}</h1>\
         <p class=\"facts\">{window}<br>On {wikis}. {status}{tracking}</p>\
         <p class=\"summary\" id=\"summary\" data-edits=\"{edits}\" data-participants=\"{participants}\" \
         data-articles-edited=\"{edited}\" data-articles-created=\"{created}\">{words}</p>\
         <p class=\"links\"><a href=\"{base}/{event}/contributions.csv{signed}\" download>Download every edit (CSV)</a>\
         <a href=\"{base}/{event}/contributions.atom{signed}\">Atom feed</a>\
         <a href=\"{base}/{event}/contributions/summary\">Totals as JSON</a></p>\
         <h2>Edits per day</h2><p class=\"note\">Days in the event's time zone, {tzname}.</p>{chart}\
         <h2>Participants</h2>{people_note}{people_table}\
         <h2>Pages</h2>{pages_note}{pages_table}\
         <p class=\"note\">Numbers count the edits participants associated with the event, \
         measured from each revision and its parent.</p><p class=\"note\" id=\"rechecked\">{rechecked}</p>\
         <script>{SORT_SCRIPT}</script></body></html>",
        status = if facts.deleted { "This event was deleted. " } else { "" },
        tracking = if facts.track_contributions {
            ""
        } else {
            "This event does not track contributions."
        },
        edits = summary.edits,
        participants = summary.participants,
        edited = summary.articles_edited,
        created = summary.articles_created,
        tzname = attr(facts.timezone.as_str()),
        chart = chart(&days, first_day, last_day),
        people_note = more(people.len(), summary.participants, "participants"),
        people_table = participants_table(&people),
        pages_note = more(pages.len(), summary.articles_edited, "pages"),
        pages_table = pages_table(&pages, summary.wikis > 1 || facts.wikis.to_wire().len() > 1),
    );
    let mut resp = warp::reply::html(html).into_response();
    resp.headers_mut().insert(
        "cache-control",
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn quarter_hours_land_on_the_events_local_days() {
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 21, h, m, 0).unwrap();
        // 18:15 UTC is 23:45 in Kolkata (+05:30), 18:30 is already the next day there; in Los
        // Angeles (-08:00) both are still the 21st, and 07:45 UTC is the 20th.
        let buckets = [(at(7, 45), 1), (at(18, 15), 2), (at(18, 30), 4)];
        let kolkata = per_local_day(&buckets, chrono_tz::Asia::Kolkata);
        let d = |day| NaiveDate::from_ymd_opt(2026, 11, day).unwrap();
        assert_eq!(
            kolkata.into_iter().collect::<Vec<_>>(),
            vec![(d(21), 3), (d(22), 4)]
        );
        let la = per_local_day(&buckets, chrono_tz::America::Los_Angeles);
        assert_eq!(
            la.into_iter().collect::<Vec<_>>(),
            vec![(d(20), 1), (d(21), 6)]
        );
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(num(0), "0");
        assert_eq!(num(1234567), "1,234,567");
        assert_eq!(num(-1000), "-1,000");
        assert_eq!(plural(1, "edit", "edits"), "1 edit");
    }
}
