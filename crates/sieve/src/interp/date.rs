//! Running the `date` and `currentdate` tests (RFC 5260): the date-parts of a header's date
//! or of the clock the message view gives, in the zone asked for.

use super::{pick, MessageView, Run};
use crate::ext::date::{self, Zone};
use crate::parser::Match;

impl<M: MessageView> Run<'_, M> {
    pub(super) fn date(
        &mut self,
        m: &Match,
        zone: &Zone,
        header: &str,
        part: &str,
        keys: &[String],
    ) -> bool {
        let local = self.msg.now().map_or(0, |n| n.1);
        let header = self.expand(header);
        let values: Vec<String> = pick(self.header(&header), m.index)
            .iter()
            .filter_map(|v| {
                // RFC 5260 §4: a Received field's date follows its last `;`.
                let v = if header.eq_ignore_ascii_case("received") {
                    v.rsplit(';').next().unwrap_or(v)
                } else {
                    v
                };
                let (t, orig) = date::parse_rfc5322(v)?;
                let off = match zone {
                    Zone::Local => local,
                    Zone::Original => orig,
                    Zone::Fixed(z) => date::parse_zone(z)?,
                };
                date::part(t, off, part)
            })
            .collect();
        self.match_values(m, &values, keys)
    }

    pub(super) fn current_date(
        &mut self,
        m: &Match,
        zone: &Zone,
        part: &str,
        keys: &[String],
    ) -> bool {
        let Some((t, local)) = self.msg.now() else {
            return false;
        };
        let off = match zone {
            Zone::Fixed(z) => date::parse_zone(z).unwrap_or(local),
            _ => local,
        };
        let values: Vec<String> = date::part(t, off, part).into_iter().collect();
        self.match_values(m, &values, keys)
    }
}
