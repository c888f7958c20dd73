"""What is kept of an agent's output: at most the output limit, never its key.

The output is stored and shown to the owner, who owns the key, but a stored
plaintext copy would outlive the vault's sealing (backups, database readers),
so every verbatim copy of the key the agent printed is replaced before the
output is kept. An agent set on leaking its key can still encode it, print
it in pieces, or print copies that overlap (of a key that starts the way it
ends: once the first is redacted, the rest of the second shows): this is a
safety net for a key printed by mistake.

Redaction works on the bytes the agent wrote, before they are decoded: the
vault takes any printable characters without whitespace as a key, non-ASCII
ones too, and a cut or an invalid sequence never splits the bytes compared.
Decoding turns undecodable bytes (and NUL) into U+FFFD, so a key holding that
character could be printed with other bytes in its place and come out whole;
the vault refuses such keys.
"""

# Stands in the stored output wherever the agent printed its key.
KEY_REDACTED = "[llm_api_key redacted]"
TRUNCATED_NOTE = "\n[output truncated]"


def bytes_to_read(limit: int, key: bytes) -> int:
    """How many bytes of output to read so that ``limit`` of them can be kept.

    len(key) - 1 more: a copy of the key that begins before the limit then lies
    whole in what was read, so it is found and redacted even when the limit
    cuts through it. Cutting first and redacting after would keep the copy's
    first bytes, and with the key's last four characters shown publicly, an
    agent could lay its key across the cut to have nearly all of it stored.
    """
    return limit + max(len(key) - 1, 0)


def kept_output(raw: bytes, *, more_came: bool, limit: int, key: bytes) -> str:
    """The text stored for the output ``raw``, read up to ``bytes_to_read``;
    ``more_came`` says whether the agent wrote beyond that.

    Every copy of ``key`` that begins before the limit becomes KEY_REDACTED, the
    one the limit cuts through too; nothing else past the limit is kept.

    No copy can be left cut short at the limit, so nothing at the cut needs
    trimming: one that begins before the limit is whole in ``raw`` unless the
    output itself ended inside it, and then the agent wrote only part of its
    key, which no verbatim redaction catches, cut or no cut. Trimming whatever
    at the cut looks like the key's first bytes would eat innocent output and,
    with any minimum length, still keep that much of the key.
    """
    kept = bytearray()
    position = 0
    # Left to right, each search starting past the previous copy: linear in the
    # output however often the key repeats.
    while key and (start := raw.find(key, position)) != -1 and start < limit:
        kept += raw[position:start]
        kept += KEY_REDACTED.encode()
        position = start + len(key)
    kept += raw[position:limit]
    # PostgreSQL text cannot hold NUL characters; an agent may print them.
    text = kept.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    if more_came or len(raw) > limit:
        text += TRUNCATED_NOTE
    return text
