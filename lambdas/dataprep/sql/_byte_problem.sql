-- Why a raw text cannot be imported as it is, or NULL: 'invalid_utf8' when it holds a byte sequence that is not
-- UTF-8 (re-decoding it yields U+FFFD, the replacement character, whether the engine kept the raw bytes or had
-- replaced them already: the local runner replaces them when it loads a file), 'control_character' when it holds
-- a control byte (dataprep.queries.CONTROL_CHARACTERS).
-- {{ value }} is a column name fixed by dataprep.queries, never user input.
CASE
    WHEN strpos(from_utf8(to_utf8({{ value }})), chr(65533)) > 0 THEN 'invalid_utf8'
    WHEN regexp_like({{ value }}, {{ control_characters }}) THEN 'control_character'
END
