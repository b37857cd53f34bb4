"""HMA 1.0's hash lists: its state files of five columns, the signal type in the file name; and the 4-column CLI export.

HMA 1.0 (hmalib) and python-threatexchange's `HMASerialization` read and write one file per
indicator type, `simple.<TYPE>.te` (HMA names its S3 copies `<privacy group>.<type>.te`), each row
`indicator,indicator_id,descriptor_id,added_on,labels` with no header: HMA's reader takes the two
ids with int(), python-threatexchange the descriptor id. `added_on` is a time, or the literal
`mine` when the fetching app's own descriptor was among them; labels are separated by spaces.
The 4-column form `indicator,id,added_on,labels` (python-threatexchange's CliIndicatorSerialization,
the corpus's pdq.csv) is read too; it is not written, since neither HMA nor `HMASerialization` loads it.

Written ids: an entry whose source id is a whole number keeps it as its indicator id; any other
source id (a vPDQ frame's `video#7`, none at all) gets a whole number made from the entry's
provenance and hash, the same on every export. The descriptor id is made the same way from the
indicator id and the source. So an export re-imported here has whole-number source ids, not the
originals: jsonl is the lossless form.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from hashmatch.hash_set.formats.tmk import TMK_SIGNAL
from hashmatch.vocabulary import ListedSignal

# python-threatexchange's INDICATOR_TYPE of each signal type (HMA 1.0 the same, lowercase in its S3 keys).
INDICATOR_TYPES = {ListedSignal.PDQ: "HASH_PDQ", ListedSignal.MD5: "HASH_VIDEO_MD5", ListedSignal.SHA256: "HASH_VIDEO_SHA256", TMK_SIGNAL: "HASH_TMK"}
# In a file name, what the type may also be called (the ThreatExchange export's file names: pdq.csv, video_md5.csv, ...).
_FILE_NAME_TYPES = (
    (re.compile(r"hash_video_sha256|hash_sha256|video_sha256", re.I), ListedSignal.SHA256),
    (re.compile(r"hash_video_md5|hash_md5|video_md5", re.I), ListedSignal.MD5),
    (re.compile(r"hash_tmk|tmk", re.I), TMK_SIGNAL),
    (re.compile(r"hash_pdq", re.I), ListedSignal.PDQ),
)
MINE = "mine"  # HMA's added_on for the fetching app's own opinion (SimpleDescriptorRollup.IS_MY_OPINION)
_ID_DIGITS = 13  # hex digits of a made id: below 2**52, a whole number every JSON and float reader keeps exact


def state_file_name(signal_type: str) -> str:
    """`simple.<INDICATOR_TYPE>.te`: the file HMA's state and HMASerialization read for this signal type."""
    return f"simple.{INDICATOR_TYPES[signal_type]}.te"


def signal_type_of_file(name: str | None) -> str | None:
    """The signal type a file's name says (simple.HASH_VIDEO_SHA256.te, 123.hash_video_md5.te, video_md5.csv), or None."""
    for pattern, kind in _FILE_NAME_TYPES:
        if name and pattern.search(name):
            return kind
    return None


def _made_id(*parts: str) -> int:
    return int(hashlib.sha256("\n".join(parts).encode()).hexdigest()[:_ID_DIGITS], 16)


def indicator_id(entry) -> int:
    """The entry's source id when it is a whole number, else a whole number made from its provenance and hash."""
    if entry.source_id and entry.source_id.isdigit():
        return int(entry.source_id)
    return _made_id(entry.source, entry.source_id or "", str(entry.signal_type), entry.hash)


def descriptor_id(entry) -> int:
    return _made_id("descriptor", entry.source, str(indicator_id(entry)))


def hma_time(added_at: str | None) -> str:
    """ThreatExchange's form, 2020-07-31T18:47:52+0000 (fractions of a second kept when there are some)."""
    if added_at is None:
        return ""
    moment = datetime.fromisoformat(added_at)
    fraction = f".{moment.microsecond:06d}" if moment.microsecond else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + moment.strftime("%z")


def row(entry) -> list[str]:
    """The five columns of the entry's row."""
    if any(len(label.split()) != 1 for label in entry.labels):
        raise ValueError(f"the hma-csv format separates labels by spaces: cannot carry {entry.labels!r:.80}")
    return [entry.hash, str(indicator_id(entry)), str(descriptor_id(entry)), hma_time(entry.added_at), " ".join(entry.labels)]
