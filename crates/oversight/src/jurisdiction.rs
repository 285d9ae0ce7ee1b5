//! Jurisdictions (where a staff member answers to the law) and regions
//! (where the subject of an action is), both as ISO 3166-1 alpha-2 codes.

use std::fmt;
use std::str::FromStr;

use crate::codec::{DecodeError, Reader, Writer};

/// An officially assigned ISO 3166-1 alpha-2 country code, upper case.
///
/// Only the 249 officially assigned codes are accepted: a typo such as `UK`
/// (the code is `GB`) or a user-assigned code such as `XK` is an error rather
/// than a jurisdiction of its own that no policy rule mentions.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Jurisdiction([u8; 2]);

impl Jurisdiction {
    /// The code, e.g. `"DE"`.
    pub fn as_str(&self) -> &str {
        // Invariant: both bytes are ASCII upper-case letters (checked by
        // `FromStr`), so this is valid UTF-8; the fallback is never taken.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    pub(crate) fn encode(&self, writer: &mut Writer) {
        writer.raw(&self.0);
    }

    pub(crate) fn decode(
        reader: &mut Reader<'_>,
        field: &'static str,
    ) -> Result<Jurisdiction, DecodeError> {
        let bytes = reader.array::<2>(field)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| DecodeError::Utf8 { field })?;
        text.parse()
            .map_err(|error: JurisdictionError| DecodeError::Invalid {
                field,
                reason: error.to_string(),
            })
    }
}

impl FromStr for Jurisdiction {
    type Err = JurisdictionError;

    fn from_str(code: &str) -> Result<Jurisdiction, JurisdictionError> {
        let bytes: [u8; 2] =
            code.as_bytes()
                .try_into()
                .map_err(|_| JurisdictionError::NotAssigned {
                    code: truncate(code),
                })?;
        if ISO_3166_ALPHA2.binary_search(&code).is_err() {
            return Err(JurisdictionError::NotAssigned {
                code: truncate(code),
            });
        }
        Ok(Jurisdiction(bytes))
    }
}

impl fmt::Display for Jurisdiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Jurisdiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Jurisdiction({})", self.as_str())
    }
}

/// Where the subject of a request is, which decides the staff jurisdictions
/// that may act on it.
///
/// Accounts and meetings have a country; staff and policy changes concern the
/// whole service and are [`Region::Global`], which only rules for `"*"` in a
/// policy match. Keeping the two apart stops a requester from naming
/// `Global` for an account to slip past a rule for its country.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Region {
    /// A subject in one country.
    Country(Jurisdiction),
    /// A service-wide subject (staff set, policy).
    Global,
}

impl Region {
    pub(crate) fn encode(&self, writer: &mut Writer) {
        match self {
            Region::Country(code) => {
                writer.u8(0);
                code.encode(writer);
            }
            Region::Global => {
                writer.u8(1);
            }
        }
    }

    pub(crate) fn decode(reader: &mut Reader<'_>) -> Result<Region, DecodeError> {
        match reader.u8("region")? {
            0 => Ok(Region::Country(Jurisdiction::decode(reader, "region")?)),
            1 => Ok(Region::Global),
            value => Err(DecodeError::UnknownValue {
                field: "region",
                value,
            }),
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Region::Country(code) => code.fmt(f),
            Region::Global => f.write_str("global"),
        }
    }
}

/// Why a string is not a jurisdiction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JurisdictionError {
    /// Not an officially assigned ISO 3166-1 alpha-2 code.
    #[error("{code:?} is not an officially assigned ISO 3166-1 alpha-2 code (two upper-case letters, e.g. DE, GB, US)")]
    NotAssigned {
        /// The input, cut to 8 characters.
        code: String,
    },
}

fn truncate(code: &str) -> String {
    code.chars().take(8).collect()
}

/// How many jurisdictions there are.
pub(crate) const JURISDICTION_COUNT: usize = 249;

/// The officially assigned ISO 3166-1 alpha-2 codes, sorted.
const ISO_3166_ALPHA2: [&str; JURISDICTION_COUNT] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_unique() {
        assert!(ISO_3166_ALPHA2.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(ISO_3166_ALPHA2
            .iter()
            .all(|code| code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())));
    }

    #[test]
    fn assigned_codes_parse_and_others_do_not() {
        for code in ["DE", "GB", "US", "HK", "CN", "ZW", "AD"] {
            let parsed: Jurisdiction = code.parse().unwrap();
            assert_eq!(parsed.as_str(), code);
        }
        for bad in ["UK", "XK", "de", "D", "DEU", "", "É", "EU", "  "] {
            assert!(bad.parse::<Jurisdiction>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn region_encoding_round_trips() {
        for region in [Region::Global, Region::Country("FR".parse().unwrap())] {
            let mut writer = Writer::new();
            region.encode(&mut writer);
            let bytes = writer.finish();
            let mut reader = Reader::new(&bytes);
            assert_eq!(Region::decode(&mut reader), Ok(region));
            assert_eq!(reader.finish("region"), Ok(()));
        }
        let mut reader = Reader::new(&[0, b'U', b'K']);
        assert!(matches!(
            Region::decode(&mut reader),
            Err(DecodeError::Invalid { .. })
        ));
    }
}
