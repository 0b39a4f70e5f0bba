# Flattens block-style YAML (what vmfleet writes for cloud-init: mappings, sequences, plain and
# quoted one-line scalars) into one "path<TAB>value" line per scalar, for the dev image's boot script:
#   users:                          users.0         default
#   - default                  ->   users.1.name    ops
#   - name: ops                     users.1.ssh_authorized_keys.0   ssh-ed25519 AAAA... ops@example
#     ssh_authorized_keys:
#     - ssh-ed25519 AAAA... ops@example
# Keys are joined with "."; sequence items are numbered from 0. Multi-line scalars (block `|`/`>`,
# or a quoted scalar that does not close on its line) are skipped, as are flow collections and
# comments. Runs under busybox awk (in the image) and any POSIX awk.

function unquote(text) {
	if (text ~ /^'.*'$/) {
		text = substr(text, 2, length(text) - 2)
		gsub(/''/, "'", text)
	} else if (text ~ /^".*"$/) {
		text = substr(text, 2, length(text) - 2)
		gsub(/\\"/, "\"", text)
		gsub(/\\\\/, "\\", text)
	}
	return text
}

function path(   joined, level) {
	joined = ""
	for (level = 1; level <= depth; level++)
		joined = joined (level > 1 ? "." : "") name[level]
	return joined
}

function push(column, key, item) {
	depth++
	indent[depth] = column
	name[depth] = key
	is_item[depth] = item
}

# A scalar that starts a multi-line value: the lines under it belong to it.
function opens_block(text) {
	return text ~ /^[|>][-+0-9]*$/ || (text ~ /^'/ && text !~ /'$/) || (text ~ /^"/ && text !~ /"$/) || text == "'" || text == "\""
}

function value(text) {
	if (opens_block(text)) {
		skip_deeper_than = indent[depth]
		return
	}
	if (text == "" || text ~ /^[[{]/)
		return
	print path() "\t" unquote(text)
}

# One `key: value` or `key:` at `column`.
function mapping(column, text,   key, rest) {
	while (depth > 0 && indent[depth] >= column)
		depth--
	key = text
	sub(/:.*$/, "", key)
	rest = substr(text, length(key) + 2)
	sub(/^[ \t]+/, "", rest)
	sub(/[ \t]+#.*$/, "", rest)
	push(column, unquote(key), 0)
	value(rest)
}

function is_key(text) {
	return text ~ /^[^'" -][^:]*:( |$)/ || text ~ /^'[^']*':( |$)/ || text ~ /^"[^"]*":( |$)/
}

# One sequence item `- ...` at `column`: numbered within its parent; what follows the dash is a
# scalar, the first key of a mapping, or a nested item, two columns further in.
function item(column, text,   parent, number) {
	while (depth > 0 && (indent[depth] > column || (indent[depth] == column && is_item[depth])))
		depth--
	parent = path()
	number = count[parent]++
	push(column, number, 1)
	text = substr(text, 3)
	sub(/^ +/, "", text)
	if (text ~ /^- / || text == "-")
		item(column + 2, text)
	else if (is_key(text))
		mapping(column + 2, text)
	else
		value(text)
}

BEGIN { depth = 0; skip_deeper_than = -1 }

{
	line = $0
	sub(/\r$/, "", line)
	match(line, /^ */)
	column = RLENGTH
	text = substr(line, column + 1)
	if (skip_deeper_than >= 0) {
		if (text == "" || column > skip_deeper_than)
			next
		skip_deeper_than = -1
	}
	if (text == "" || text ~ /^#/ || text ~ /^---/ || text ~ /^\.\.\.$/)
		next
	if (text ~ /^- / || text == "-")
		item(column, text)
	else if (is_key(text))
		mapping(column, text)
}
