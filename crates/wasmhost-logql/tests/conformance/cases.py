# Writes the conformance case files. Expected answers are written out by
# hand from Loki's documented semantics; this script only spares retyping
# the shared input lines.
import json, os
OUT = os.path.dirname(os.path.abspath(__file__))
def L(sec, **kw):
    d = {"ts": "2026-11-25T18:00:%02dZ" % sec}
    d.update(kw)
    return json.dumps(d, separators=(",", ":"), ensure_ascii=False)
def ns(sec): return str((1795629600 + sec) * 10**9)
g1 = L(1, job="gw", lang="rust", module="api", stream="stderr", level="info", wasm_instance_id="i1", task_id=1, seq=1, msg="GET /a 200")
g2 = L(2, job="gw", lang="rust", module="api", stream="stderr", level="error", wasm_instance_id="i1", task_id=1, seq=2, msg="GET /b 500")
g3 = L(3, job="gw", lang="go", module="api", stream="stdout", level="info", wasm_instance_id="i2", task_id=2, seq=1, msg="POST /c 201")
g4 = L(4, job="batch", lang="c", module="cron", stream="stderr", level="warn", wasm_instance_id="i3", task_id=3, seq=1, msg="slow")
G = [g1, g2, g3, g4]
RUST = {"job": "gw", "lang": "rust", "module": "api", "stream": "stderr"}
GO = {"job": "gw", "lang": "go", "module": "api", "stream": "stdout"}
C = {"job": "batch", "lang": "c", "module": "cron", "stream": "stderr"}
def streams(*s): return {"status": "success", "data": {"resultType": "streams", "result": [{"stream": l, "values": v} for l, v in s]}}
def vector(t, *s): return {"status": "success", "data": {"resultType": "vector", "result": [{"metric": l, "value": [t, v]} for l, v in s]}}
def matrix(*s): return {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": l, "values": v} for l, v in s]}}
def scalar(t, v): return {"status": "success", "data": {"resultType": "scalar", "result": [t, v]}}
T1 = "2026-11-25T18:01:00Z"; t1 = 1795629660
def case(name, query, lines=G, **kw):
    c = {"name": name, "query": query, "lines": lines}
    c.update(kw)
    return c
EMPTY_ERR = "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will"

files = {}
files["01_selectors.json"] = [
    case("equality selector: one stream per stream-label set, newest first", '{job="gw"}',
         expect=streams((GO, [[ns(3), g3]]), (RUST, [[ns(2), g2], [ns(1), g1]]))),
    case("regex selector is anchored", '{lang=~"r|go"}', expect=streams((GO, [[ns(3), g3]]))),
    case("non-stream fields are not labels: wasm_instance_id needs | json", '{wasm_instance_id="i1"}', expect=streams()),
    case("empty-compatible regex refused", '{job=~".*"}', error=EMPTY_ERR),
    case("only negative matchers refused", '{job!="gw"}', error=EMPTY_ERR),
    case("an empty-compatible matcher next to a real one is fine", '{job=~".*", lang="go"}', expect=streams((GO, [[ns(3), g3]]))),
    case("forward direction", '{job="gw"} |= "GET"', direction="forward", expect=streams((RUST, [[ns(1), g1], [ns(2), g2]]))),
    case("limit keeps the newest", '{job="gw"}', limit=1, expect=streams((GO, [[ns(3), g3]]))),
    case("range window for log queries", '{job="gw"}', start="2026-11-25T18:00:02Z", end="2026-11-25T18:00:03Z", step="1s",
         expect=streams((RUST, [[ns(2), g2]]))),
    case("stream labels override for foreign files", '{service="db"}', stream_labels=["service"],
         lines=[L(1, service="db", level="error"), L(2, service="web")], expect=streams(({"service": "db"}, [[ns(1), L(1, service="db", level="error")]]))),
    case("# comments", '{job="gw"} # every gateway line\n |= "POST"', expect=streams((GO, [[ns(3), g3]]))),
]
u1 = L(1, job="u", msg="code \u0663"); u2 = L(2, job="u", msg="caf\u00e9"); u3 = L(3, job="u", msg="cafe 7")
ipl = [L(1, job="ip", msg="from 192.168.1.7:443 at 18:00:01"), L(2, job="ip", msg="peer=192.168.0.1 via 10.1.0.1"),
       L(3, job="ip", msg="peer=10.0.0.5"), L(4, job="ip", msg="v6 [2001:db8::1]:80 and 1.2.3")]
files["02_line_filters.json"] = [
    case("\\x and octal escapes are bytes: two of them make one UTF-8 character", r'{job="u"} |= "caf\xc3\xa9" or "caf\303\251"', lines=[u1, u2, u3],
         expect=streams(({"job": "u"}, [[ns(2), u2]]))),
    case("\\u of a lone surrogate is U+FFFD in a query (Prometheus' unquoting), not an error", r'{job="gw"} |= "\ud800"', expect=streams()),
    case("a raw string keeps a carriage return in a query", '{job="gw"} |= `GET /a\r`', expect=streams()),
    case("contains", '{job="gw"} |= "POST"', expect=streams((GO, [[ns(3), g3]]))),
    case("not contains", '{job="gw"} != "GET"', expect=streams((GO, [[ns(3), g3]]))),
    case("regex, unanchored, Go syntax", '{job="gw"} |~ "/[ab] 2\\\\d\\\\d"', expect=streams((RUST, [[ns(1), g1]]))),
    case("not regex", '{job="gw"} !~ "GET|POST"', expect=streams()),
    case("\\d is ASCII-only as in Go's RE2", '{job="u"} |~ "code \\\\d"', lines=[u1, u2, u3], expect=streams()),
    case("\\w is ASCII-only as in Go's RE2", '{job="u"} |~ "caf\\\\w"', lines=[u1, u2, u3], expect=streams(({"job": "u"}, [[ns(3), u3]]))),
    case("\\D matches a non-ASCII digit", '{job="u"} |~ "code \\\\D\\""', lines=[u1, u2, u3], expect=streams(({"job": "u"}, [[ns(1), u1]]))),
    case("Loki 3 line filter or", '{job="gw"} |= "/a" or "/c"', expect=streams((GO, [[ns(3), g3]]), (RUST, [[ns(1), g1]]))),
    case("negative line filter or: none may match", '{job="gw"} != "/a" or "/c"', expect=streams((RUST, [[ns(2), g2]]))),
    case("pattern line filter", '{job="gw"} |> "<_> /b <_>"', expect=streams((RUST, [[ns(2), g2]]))),
    case("negative pattern line filter", '{job="gw"} !> "<_>GET<_>"', expect=streams((GO, [[ns(3), g3]]))),
    case("ip() line filter: an address of the line in a CIDR", '{job="ip"} |= ip("192.168.0.0/16")', lines=ipl,
         expect=streams(({"job": "ip"}, [[ns(2), ipl[1]], [ns(1), ipl[0]]]))),
    case("ip() line filter: a range, and != keeps lines with no address in it", '{job="ip"} != ip("10.0.0.1-10.0.0.9")', lines=ipl,
         expect=streams(({"job": "ip"}, [[ns(4), ipl[3]], [ns(2), ipl[1]], [ns(1), ipl[0]]]))),
    case("ip() line filter: one IPv6 address", '{job="ip"} |= ip("2001:db8::1")', lines=ipl,
         expect=streams(({"job": "ip"}, [[ns(4), ipl[3]]]))),
    case("ip() line filter takes only |= and !=", '{job="ip"} |~ ip("10.0.0.1")', error="ip() line filters take only |= and !="),
    case("ip() line filter with an invalid pattern", '{job="ip"} |= ip("10.0.0.300")', error='invalid ip pattern: "10.0.0.300"'),
    case("backtick strings are raw", '{job="gw"} |~ `/c \\d+`', expect=streams((GO, [[ns(3), g3]]))),
]
def ext(base, d):
    out = dict(base)
    for k, v in d.items():
        out[k + "_extracted" if k in base else k] = v
    return out
g2_all = ext(RUST, {"ts": "2026-11-25T18:00:02Z", "job": "gw", "lang": "rust", "module": "api", "stream": "stderr", "level": "error",
                    "wasm_instance_id": "i1", "task_id": "1", "seq": "2", "msg": "GET /b 500"})
nested = json.dumps({"ts": "2026-11-25T18:00:01Z", "job": "n", "req": {"path": "/x", "user-agent": "curl", "hdr": {"a-b": 1}},
                     "list": [1, 2], "nil": None, "1st": "x", "num": 1.50, "big": 1e3, "esc": "a\"b\u00e9"}, separators=(",", ":"), ensure_ascii=True).replace("1.5,", "1.50,").replace("1000.0", "1e3")
col = L(1, job="col", msg="\u001b[31mred\u001b[0m")
lf = L(1, job="lf", msg='status=500 dur=15ms path="/a b" flag')
pk = L(1, job="pk", app="x", _entry="original line")
nl1 = '{"ts":"2026-11-25T18:00:01Z","job":"nl","a":"x","a":null,"b":null,"c":{"d":null}}'
fffd = '{"ts":"2026-11-25T18:00:01Z","job":"nl","bad":"x\\ud800y","raw":"x\ufffdy","ok":"z"}'
files["03_parsers.json"] = [
    case("| json: everything but the stream labels arrives here; clashes get _extracted", '{job="gw"} | json | level="error"',
         expect=streams((g2_all, [[ns(2), g2]]))),
    case("| json with parameters", '{lang="go"} | json level, id="wasm_instance_id"',
         expect=streams((dict(GO, level="info", id="i2"), [[ns(3), g3]]))),
    case("| json nested keys, sanitised names, leading digit, number text kept", '{job="n"} | json | line_format "{{.req_path}} {{.req_user_agent}} {{.req_hdr_a_b}} {{._1st}} {{.num}} {{.big}} [{{.nil}}] {{.esc}}" | keep job',
         lines=[nested], expect=streams(({"job": "n"}, [[ns(1), "/x curl 1 x 1.50 1e3 [] a\"b\u00e9"]]))),
    case("| json skips null: the label stays unset and an earlier value of the key stays", '{job="nl"} | json | keep job, a, b, c_d',
         lines=[nl1], expect=streams(({"job": "nl", "a": "x"}, [[ns(1), nl1]]))),
    case("| json: a value with U+FFFD (escaped lone surrogate or literal) becomes empty", '{job="nl"} | json | line_format "[{{.bad}}] [{{.raw}}] [{{.ok}}]" | keep job, ok',
         lines=[fffd], expect=streams(({"job": "nl", "ok": "z"}, [[ns(1), "[] [] [z]"]]))),
    case("| json path expressions", '{job="n"} | json p="req.path", a="req[\\"user-agent\\"]", l="list[1]" | keep p, a, l',
         lines=[nested], expect=streams(({"p": "/x", "a": "curl", "l": "2"}, [[ns(1), nested]]))),
    case("| json error keeps the line, flagged", '{lang="go"} | json | line_format "{{.msg}}" | json | keep job',
         expect=streams(({"job": "gw", "__error__": "JSONParserErr", "__error_details__": "Value looks like object, but can't find closing '}' symbol"}, [[ns(3), "POST /c 201"]]))),
    case("__error__=\"\" drops flagged lines", '{lang="go"} | json | line_format "{{.msg}}" | json | __error__=""', expect=streams()),
    case("drop __error__ keeps the line, unflagged", '{lang="go"} | json | line_format "{{.msg}}" | json | drop __error__, __error_details__ | keep job',
         expect=streams(({"job": "gw"}, [[ns(3), "POST /c 201"]]))),
    case("| logfmt", '{job="lf"} | json msg | line_format "{{.msg}}" | logfmt | keep status, dur, path',
         lines=[lf], expect=streams(({"status": "500", "dur": "15ms", "path": "/a b"}, [[ns(1), 'status=500 dur=15ms path="/a b" flag']]))),
    case("| logfmt with parameters", '{job="lf"} | json msg | line_format "{{.msg}}" | logfmt s="status", path | keep s, path',
         lines=[lf], expect=streams(({"s": "500", "path": "/a b"}, [[ns(1), 'status=500 dur=15ms path="/a b" flag']]))),
    case("| logfmt --keep-empty keeps standalone keys", '{job="lf"} | json msg | line_format "{{.msg}}" | logfmt --keep-empty | keep flag',
         lines=[lf], expect=streams(({"flag": ""}, [[ns(1), 'status=500 dur=15ms path="/a b" flag']]))),
    case("| regexp", '{lang="go"} | json msg | line_format "{{.msg}}" | regexp "(?P<method>\\\\w+) (?P<path>\\\\S+)" | keep method, path',
         expect=streams(({"method": "POST", "path": "/c"}, [[ns(3), "POST /c 201"]]))),
    case("| pattern", '{lang="go"} | json msg | line_format "{{.msg}}" | pattern "<method> <_> <status>" | keep method, status',
         expect=streams(({"method": "POST", "status": "201"}, [[ns(3), "POST /c 201"]]))),
    case("| pattern needs a named capture", '{lang="go"} | pattern "<_> x"', error="at least one capture is required"),
    case("| unpack", '{job="pk"} | unpack', lines=[pk],
         expect=streams(({"job": "pk", "job_extracted": "pk", "ts": "2026-11-25T18:00:01Z", "app": "x"}, [[ns(1), "original line"]]))),
    case("| decolorize", '{job="col"} | json msg | line_format "{{.msg}}" | decolorize | keep job', lines=[col],
         expect=streams(({"job": "col"}, [[ns(1), "red"]]))),
]
files["04_formats.json"] = [
    case("line_format with Loki's template functions and if/else", '{lang="go"} | json | line_format "{{.level | ToUpper}} {{ printf \\"%s-%s\\" .module .task_id }} {{ if eq .level \\"info\\" }}ok{{ else }}bad{{ end }} {{ __line__ | len }}" | keep job',
         expect=streams(({"job": "gw"}, [[ns(3), "INFO api-2 ok %d" % len(g3)]]))),
    case("line_format trims with {{- -}}", '{lang="go"} | json | line_format "a  {{- .level -}}  b" | keep job', expect=streams(({"job": "gw"}, [[ns(3), "ainfob"]]))),
    case("line_format: the entry's time with Go layouts (__timestamp__, date, unixEpoch)",
         '{lang="go"} | line_format `{{ __timestamp__ | date "2006-01-02 15:04:05 Mon" }} {{ __timestamp__ | unixEpochMillis }} {{ __timestamp__ }}`',
         expect=streams((GO, [[ns(3), "2026-11-25 18:00:03 Wed 1795629603000 2026-11-25 18:00:03 +0000 UTC"]]))),
    case("label_format: toDate parses with a layout, unixToTime reads the unit from the digits",
         '{job="dt"} | json | label_format day=`{{ toDate "02/01/2006" .d | unixEpoch }}`, t=`{{ unixToTime .ms | date "15:04:05.000" }}` | keep day, t',
         lines=[L(1, job="dt", d="25/11/2026", ms="1795629603250")],
         expect=streams(({"day": "1795564800", "t": "18:00:03.250"}, [[ns(1), L(1, job="dt", d="25/11/2026", ms="1795629603250")]]))),
    case("line_format: with sets the dot, variables keep values (an assignment in a block reaches the outer variable)",
         '{lang=~".+"} | json | line_format `{{ $who := .module }}{{ with .level }}{{ if eq . "error" }}{{ $who = "ALERT" }}{{ end }}{{ . }}{{ end }} {{ $who }}` | keep job',
         expect=streams(({"job": "batch"}, [[ns(4), "warn cron"]]), ({"job": "gw"}, [[ns(3), "info api"], [ns(2), "error ALERT"], [ns(1), "info api"]]))),
    case("line_format: assigning an undeclared variable is an error", '{lang="go"} | line_format `{{ $x = 1 }}`', error='undefined variable "$x"'),
    case("line_format: unknown function is an error", '{lang="go"} | line_format "{{ nope .x }}"', error='function "nope" not defined'),
    case("label_format rename and template", '{lang="go"} | json | label_format lvl=level, who="{{.module}}/{{.wasm_instance_id}}" | keep lvl, who, level',
         expect=streams(({"lvl": "info", "who": "api/i2"}, [[ns(3), g3]]))),
    case("drop with a matcher", '{lang="go"} | json level | drop level="info"', expect=streams((GO, [[ns(3), g3]]))),
    case("drop with a matcher that does not match", '{lang="go"} | json level | drop level="error"', expect=streams((dict(GO, level="info"), [[ns(3), g3]]))),
    # Loki 3's distinct keeps the earliest line of each value (lines are read in time order).
    case("distinct: the earliest line of each value", '{job="gw"} | json | distinct level | keep job',
         expect=streams(({"job": "gw"}, [[ns(2), g2], [ns(1), g1]]))),
    case("distinct over two labels: a seen value of any drops the line (the values before it stay recorded)",
         '{job=~".+"} | json | distinct level, module | keep job', expect=streams(({"job": "batch"}, [[ns(4), g4]]), ({"job": "gw"}, [[ns(1), g1]]))),
    case("distinct: a line without the label passes", '{job=~".+"} | json | distinct nope | keep job',
         expect=streams(({"job": "batch"}, [[ns(4), g4]]), ({"job": "gw"}, [[ns(3), g3], [ns(2), g2], [ns(1), g1]]))),
    case("keep", '{lang="go"} | json | keep lang, level', expect=streams(({"lang": "go", "level": "info"}, [[ns(3), g3]]))),
]
# Go text/template as Loki runs it (missingkey=zero over the label map,
# Loki's and Sprig's functions); the expected texts follow Go's semantics:
# labels are strings, constants are int or float64, fmt prints as Go does.
def lf(name, tmpl, text, lines=[g3], **kw):
    return case(name, '{lang="go"} | json | line_format `' + tmpl + '` | keep job', lines=lines, expect=streams(({"job": "gw"}, [[ns(3), text]])), **kw)
def tmpl_err(details, name="line"):
    return {"job": "gw", "__error__": "TemplateFormatErr", "__error_details__": "template: %s:%s" % (name, details)}
gj = L(3, job="gw", lang="go", module="api", level="info", msg="POST /c 201", queries='[{"query":"a"},{"query":"b"}]', m='{"b":2,"a":"x","c":[1,2]}', j='{"k":["x","y"]}')
files["09_templates.json"] = [
    lf("range over fromJson's list, with index and element (Loki's documented example)",
       '{{ range $i, $q := fromJson .queries }}{{ $i }}={{ $q.query }} {{ end }}', "0=a 1=b ", lines=[gj]),
    lf("range over a map: keys in sorted order, values printed as Go prints them",
       '{{ range $k, $v := fromJson .m }}{{ $k }}:{{ $v }};{{ end }}', "a:x;b:2;c:[1 2];", lines=[gj]),
    lf("range: else on an empty list; continue and break",
       '{{ range fromJson "[]" }}x{{ else }}none{{ end }} {{ range $i, $e := fromJson "[1,2,3,4]" }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ if gt $e 3.0 }}{{ break }}{{ end }}{{ $e }}{{ end }}',
       "none 13"),
    lf("if / else if / else", '{{ if eq .level "error" }}E{{ else if eq .level "info" }}I{{ else }}?{{ end }}', "I"),
    lf("with / else with: the value becomes the dot", '{{ with .nope }}{{ . }}{{ else with .level }}level={{ . }}{{ end }}', "level=info"),
    lf("and/or return an operand; not; comparisons of strings and numbers; eq against several values",
       '{{ and .level .msg }}|{{ or .nope "dflt" }}|{{ not .nope }}|{{ lt "a" "b" }}|{{ ge 2 2 }}|{{ ne .level "x" }}|{{ if eq .level "warn" "info" }}y{{ end }}',
       "POST /c 201|dflt|true|true|true|true|y"),
    lf("len (bytes), index of a string (a byte), of maps and lists; print spaces operands that are not strings",
       '{{ len .msg }} {{ index .msg 0 }} {{ index (fromJson .j) "k" 1 }} {{ print 1 2 "a" "b" 3 }}', "11 80 y 1 2ab3", lines=[gj]),
    lf("printf: widths, precision, zero padding, %x, %q, %v, %t",
       '{{ printf "%-6s|%5.1f|%03d|%x|%q|%v|%t" .level 3.14159 7 255 .msg 2.50 true }}', 'info  |  3.1|007|ff|"POST /c 201"|2.5|true'),
    lf("printf %d of a label: labels are strings, so Go prints a bad-verb marker", '{{ printf "%d" .task_id }}', "%!d(string=2)"),
    lf("trim markers and comments", 'a {{- /* note */ -}} b {{- .level }} c', "abinfo c"),
    lf("$ is the data; a variable declared outside range is seen inside",
       '{{ $.level }} {{ $l := .level }}{{ range $i, $e := fromJson "[1]" }}{{ $l }}{{ end }}', "info info"),
    lf("chained and parenthesised pipelines (Loki's documented example)",
       '{{ .msg | replace " " "_" | trunc 6 | upper }} {{ (printf "%s-%s" .level .module) | upper }}', "POST_/ INFO-API"),
    lf("string functions: title, trimAll, trimPrefix, trimSuffix, trim, substr, trunc, repeat, alignLeft, alignRight, indent, nindent",
       r'{{ title "hello wide-world" }}|{{ trimAll "/" "//a/b//" }}|{{ trimPrefix "/" "/a" }}|{{ trimSuffix "/" "a/" }}|{{ trim "  x  " }}|{{ substr 2 5 "hello world" }}|{{ trunc -5 "hello world" }}|{{ repeat 3 "ab" }}|{{ alignLeft 5 "hi" }}|{{ alignRight 5 "hello world" }}|{{ indent 2 "a\nb" }}|{{ nindent 2 "c" }}',
       "Hello Wide-World|a/b|a|a|x|llo|world|ababab|hi   |world|  a\n  b|\n  c"),
    lf("contains, hasPrefix, hasSuffix and Loki's older Go-named functions",
       '{{ contains "POST" .msg }} {{ hasPrefix "PO" .msg }} {{ hasSuffix "x" .msg }} {{ ToUpper .level }} {{ Replace .msg "/" "|" 1 }} {{ TrimSpace " a " }} {{ Trim "xxaxx" "x" }}',
       "true true false INFO POST |c 201 a a"),
    lf("regexReplaceAll expands $1 and ${2}; regexReplaceAllLiteral does not; count counts matches",
       r'{{ regexReplaceAll "(\\w+) /(\\w)" .msg "${2}:$1" }} {{ regexReplaceAllLiteral "/c" .msg "$1" }} {{ count "[0-9]" .msg }}', "c:POST 201 POST $1 201 3"),
    lf("b64enc, b64dec, urlencode, urldecode", '{{ b64enc .level }} {{ b64dec "aW5mbw==" }} {{ urlencode "a b&c" }} {{ urldecode "a+b%26c" }}', "aW5mbw== info a+b%26c a b&c"),
    lf("integer math reads labels as Sprig's toInt64 does (\"2.5\" is not an integer: 0)",
       '{{ add .task_id 3 }} {{ sub 10 .task_id }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ mod 7 2 }} {{ max 1 5 3 }} {{ min 4 2 }} {{ add "2.5" 1 }}', "5 8 24 3 1 5 2 1"),
    lf("float math is decimal (addf 0.1 0.2 is 0.3); floats print as Go's %v (1e+06)",
       '{{ addf 0.1 0.2 }} {{ subf 5.5 2 1.5 }} {{ mulf 5.5 2 2.5 }} {{ divf 10 2 4 }} {{ maxf 1 2.5 3 }} {{ minf 1 2.5 }} {{ ceil 123.001 }} {{ floor 1.9 }} {{ round 123.555555 3 }} {{ round 123.88571428571 5 .2 }} {{ float64 "3.5" }} {{ int "42" }} {{ mulf 1000 1000 }}',
       "0.3 2 27.5 1.25 3 1 124 1 123.556 123.88572 3.5 42 1e+06"),
    lf("bytes and duration convert to numbers", '{{ bytes "2KiB" }} {{ duration "1m30s" }} {{ duration_seconds "250ms" }}', "2048 90 0.25"),
    lf("toDateInZone, unixEpochNanos and date of the entry's time",
       '{{ toDateInZone "2006-01-02 15:04" "UTC" "2026-11-25 18:30" | unixEpoch }} {{ __timestamp__ | unixEpochNanos }} {{ date "15:04" __timestamp__ }}',
       "1795631400 %s 18:00" % ns(3)),
    lf("fromJson of invalid JSON and a missing JSON key are nil: <no value>", '{{ fromJson "nope" }}|{{ (fromJson .j).missing }}', "<no value>|<no value>", lines=[gj]),
    lf("default replaces Sprig's empty values (\"\", 0)", '{{ .nope | default "-" }} {{ default "-" .level }} {{ default "z" 0 }}', "- info z"),
    lf("define and template", '{{ define "t" }}[{{ . }}]{{ end }}{{ template "t" .level }}{{ template "t" .msg }}', "[info][POST /c 201]"),
    lf("html, js and urlquery escape", """{{ html "<a href='x'>" }} {{ js "it's <b>" }} {{ urlquery "a b" }}""", r"&lt;a href=&#39;x&#39;&gt; it\'s \u003Cb\u003E a+b"),
    case("{{ . }} is the label map; range over it visits labels in order", '{job="t"} | line_format `{{ . }} {{ range $k, $v := $ }}{{ $k }}={{ $v }},{{ end }}`',
         lines=[L(3, job="t", lang="go")], expect=streams(({"job": "t", "lang": "go"}, [[ns(3), "map[job:t lang:go] job=t,lang=go,"]]))),
    case("a template reading the whole map sees every parsed label, also in a metric query that groups by one",
         'sum by (all) (count_over_time({job="t"} | json | label_format all=`{{ range $k, $v := . }}{{ $k }},{{ end }}` [5m]))', time=T1,
         lines=[L(3, job="t", lang="go", x="1")], expect=vector(t1, ({"all": "job,job_extracted,lang,lang_extracted,ts,x,"}, "1"))),
    # Errors while executing: Loki keeps the line as it was and flags it.
    case("comparing a label (a string) with a number fails the template: the line stays, flagged TemplateFormatErr",
         '{lang="go"} | json | line_format `{{ if eq .task_id 2 }}two{{ end }}` | keep job', lines=[g3],
         expect=streams((tmpl_err('1:6: executing "line" at <eq .task_id 2>: error calling eq: incompatible types for comparison'), [[ns(3), g3]]))),
    case("div by zero", '{lang="go"} | json | line_format `x{{ div 1 0 }}` | keep job', lines=[g3],
         expect=streams((tmpl_err('1:4: executing "line" at <div 1 0>: error calling div: runtime error: integer divide by zero'), [[ns(3), g3]]))),
    case("a label passed where a function takes an int", '{lang="go"} | json | line_format `{{ trunc .task_id .msg }}` | keep job', lines=[g3],
         expect=streams((tmpl_err('1:9: executing "line" at <.task_id>: wrong type for value; expected int; got string'), [[ns(3), g3]]))),
    case("a field of a string", '{lang="go"} | json | line_format `{{ .level.x }}` | keep job', lines=[g3],
         expect=streams((tmpl_err('1:3: executing "line" at <.level.x>: can\'t evaluate field x in type string'), [[ns(3), g3]]))),
    case("a function's error: unixToTime of text", '{lang="go"} | json | line_format `{{ unixToTime .msg }}` | keep job', lines=[g3],
         expect=streams((tmpl_err('1:3: executing "line" at <unixToTime .msg>: error calling unixToTime: unable to parse time \'POST /c 201\': strconv.ParseInt: parsing "POST /c 201": invalid syntax'), [[ns(3), g3]]))),
    case("label_format: a failing template leaves its label unset and flags the line; the others are set",
         '{lang="go"} | json | label_format a=`{{ div 1 0 }}`, b=`{{ .level }}` | keep a, b', lines=[g3],
         expect=streams(({"b": "info", "__error__": "TemplateFormatErr", "__error_details__": 'template: label:1:3: executing "label" at <div 1 0>: error calling div: runtime error: integer divide by zero'}, [[ns(3), g3]]))),
    case("label_format: every template of a stage reads the labels as they were before it", '{lang="go"} | json | label_format a=`x`, b=`{{ .a }}-{{ .level }}` | keep a, b',
         lines=[g3], expect=streams(({"a": "x", "b": "-info"}, [[ns(3), g3]]))),
    case("a template that does not parse makes the query invalid", '{lang="go"} | line_format `{{ if .a }}x`', error="template: line:1: unexpected EOF"),
    # Template literals follow Go's strconv.Unquote, which Prometheus'
    # unquoting (queries, see 08_syntax_errors) departs from twice.
    case("a template refuses \\u of a lone surrogate (Go's strconv)", r'{lang="go"} | line_format "{{ \"\\ud800\" }}"', error="template: line:1: invalid syntax"),
    case("a template's raw string loses carriage returns (Go's strconv)", '{lang="go"} | line_format "{{ `a\\rb` }}" | keep job',
         expect=streams(({"job": "gw"}, [[ns(3), "ab"]]))),
    case("a template's string cannot hold a newline", '{lang="go"} | line_format "{{ \\"a\\nb\\" }}"', error="unterminated quoted string"),
    case("break outside range", '{lang="go"} | line_format `{{ break }}`', error="{{break}} outside {{range}}"),
    case("a plain value after | is not a command", '{lang="go"} | line_format `{{ .a | "x" }}`', error="non executable command in pipeline stage 2"),
]
d1 = L(1, job="d", took="1.5s", size="2KB", addr="10.0.0.5"); d2 = L(2, job="d", took="250ms", size="500B", addr="192.168.1.1"); d3 = L(3, job="d", took="abc", size="1KiB", addr="::1")
D = [d1, d2, d3]
files["05_label_filters.json"] = [
    case("`,` binds its right side to the end: a, b or c is a and (b or c)", '{job="gw"} | json | level="error", lang="go" or seq="1" | keep job', expect=streams()),
    case("`and` binds tighter than `or`", '{job="gw"} | json | level="error" and lang="go" or seq="1" | keep job',
         expect=streams(({"job": "gw"}, [[ns(3), g3], [ns(1), g1]]))),
    case("parentheses", '{job="gw"} | json | (level="error" or level="warn") and seq=2 | keep job', expect=streams(({"job": "gw"}, [[ns(2), g2]]))),
    case("numeric comparison", '{job="gw"} | json | seq >= 2 | keep job', expect=streams(({"job": "gw"}, [[ns(2), g2]]))),
    case("numeric filter on a missing label drops the line", '{job="gw"} | json | nope > 1', expect=streams()),
    case("numeric filter on a non-number keeps the line, flagged", '{lang="go"} | json | msg > 5 | keep job',
         expect=streams(({"job": "gw", "__error__": "LabelFilterErr", "__error_details__": "strconv.ParseFloat: parsing \"POST /c 201\": invalid syntax"}, [[ns(3), g3]]))),
    case("duration filter", '{job="d"} | json | took > 1s | keep job', lines=D,
         expect=streams(({"job": "d", "__error__": "LabelFilterErr", "__error_details__": "time: invalid duration \"abc\""}, [[ns(3), d3]]), ({"job": "d"}, [[ns(1), d1]]))),
    case("bytes filter", '{job="d"} | json | size >= 1KB | keep job', lines=D, expect=streams(({"job": "d"}, [[ns(3), d3], [ns(1), d1]]))),
    case("ip filter, CIDR", '{job="d"} | json | addr = ip("10.0.0.0/8") | keep job', lines=D, expect=streams(({"job": "d"}, [[ns(1), d1]]))),
    case("ip filter, negated range", '{job="d"} | json | addr != ip("10.0.0.0-10.0.0.9") | keep job', lines=D,
         expect=streams(({"job": "d"}, [[ns(3), d3], [ns(2), d2]]))),
    case("regex label filter is anchored", '{job="gw"} | json | msg=~"GET" | keep job', expect=streams()),
]
FULL = {"lang": "rust"}
u = [L(1, job="u", lat="10"), L(2, job="u", lat="20"), L(3, job="u", lat="30"), L(4, job="u", lat="40")]
cn = [L(1, job="c", n="10"), L(2, job="c", n="20"), L(3, job="c", n="5"), L(4, job="c", n="15")]
files["06_range_aggregations.json"] = [
    case("count_over_time: one series per stream", 'count_over_time({job="gw"}[5m])', time=T1, expect=vector(t1, (GO, "1"), (RUST, "2"))),
    case("the portable grouped form", 'sum by (lang) (count_over_time({job=~".+"} | json | __error__="" [5m]))', time=T1,
         expect=vector(t1, ({"lang": "c"}, "1"), ({"lang": "go"}, "1"), ({"lang": "rust"}, "2"))),
    case("grouping count_over_time is refused", 'count_over_time({job="gw"} | json | __error__="" [5m]) by (lang, task_id)',
         error='parse error : grouping not allowed for count_over_time aggregation\nhint: aggregate the result instead, which Loki and Prometheus accept: sum by (lang, task_id) (count_over_time({job="gw"} | json | __error__="" [5m]))'),
    case("grouping rate is refused", 'rate({job="gw"}[5m]) by (lang)', error="grouping not allowed for rate aggregation"),
    case("the default instant time is the newest ts", 'count_over_time({job="gw"}[2s])', expect=vector(1795629603, (GO, "1"), (RUST, "1"))),
    case("rate", 'rate({job="gw"}[1m])', time=T1, expect=vector(t1, (GO, "0.016666666666666666"), (RUST, "0.03333333333333333"))),
    case("bytes_over_time", 'bytes_over_time({job="gw"}[5m])', time=T1, expect=vector(t1, (GO, str(len(g3))), (RUST, str(len(g1) + len(g2))))),
    case("bytes_rate", 'bytes_rate({lang="go"}[1s])', time="2026-11-25T18:00:03Z", expect=vector(1795629603, (GO, str(len(g3))))),
    case("sum_over_time", 'sum_over_time({job="u"} | json lat | unwrap lat [5m])', lines=u, time=T1, expect=vector(t1, ({"job": "u"}, "100"))),
    case("avg_over_time by", 'avg_over_time({job="u"} | json lat | unwrap lat [5m]) by (job)', lines=u, time=T1, expect=vector(t1, ({"job": "u"}, "25"))),
    case("min/max", 'max_over_time({job="u"} | json lat | unwrap lat [5m]) - min_over_time({job="u"} | json lat | unwrap lat [5m])', lines=u, time=T1,
         expect=vector(t1, ({"job": "u"}, "30"))),
    case("first/last", 'last_over_time({job="u"} | json lat | unwrap lat [5m]) / first_over_time({job="u"} | json lat | unwrap lat [5m])', lines=u, time=T1,
         expect=vector(t1, ({"job": "u"}, "4"))),
    case("stddev_over_time", 'stddev_over_time({job="u"} | json lat | unwrap lat [5m])', lines=u, time=T1, expect=vector(t1, ({"job": "u"}, "11.180339887498949"))),
    case("stdvar_over_time", 'stdvar_over_time({job="u"} | json lat | unwrap lat [5m])', lines=u, time=T1, expect=vector(t1, ({"job": "u"}, "125"))),
    case("quantile_over_time", 'quantile_over_time(0.9, {job="u"} | json lat | unwrap lat [5m])', lines=u, time=T1, expect=vector(t1, ({"job": "u"}, "37"))),
    case("rate with unwrap: sum per second", 'rate({job="u"} | json lat | unwrap lat [1m])', lines=u, time=T1, expect=vector(t1, ({"job": "u"}, "1.6666666666666667"))),
    case("unwrap duration()", 'sum_over_time({job="d"} | json took | unwrap duration(took) | __error__="" [5m])', lines=D, time=T1,
         expect=vector(t1, ({"job": "d"}, "1.75"))),
    case("unwrap bytes()", 'sum_over_time({job="d"} | json size | unwrap bytes(size) [5m])', lines=D, time=T1, expect=vector(t1, ({"job": "d"}, "3524"))),
    case("unwrap of a non-number fails the query, as in Loki", 'sum_over_time({job="d"} | json took | unwrap took [5m])', lines=D, time=T1,
         error="pipeline error: 'SampleExtractionErr' for series: '{__error__=\"SampleExtractionErr\", __error_details__=\"strconv.ParseFloat: parsing \\\"1.5s\\\": invalid syntax\", job=\"d\"}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"SampleExtractionErr\")."),
    case("a parser error fails a metric query", 'count_over_time({lang="go"} | json | line_format "{{.msg}}" | json [5m])', time=T1,
         error="pipeline error: 'JSONParserErr' for series: '{__error__=\"JSONParserErr\", __error_details__=\"Value looks like object, but can't find closing '}' symbol\""),
    case("a label filter error fails a metric query", 'count_over_time({lang="go"} | json msg | msg > 5 [5m])', time=T1,
         error="pipeline error: 'LabelFilterErr' for series:"),
    case("invalid aggregation without unwrap", 'sum_over_time({job="u"}[5m])', error="parse error : invalid aggregation sum_over_time without unwrap"),
    case("invalid aggregation with unwrap", 'count_over_time({job="u"} | json lat | unwrap lat [5m])', error="parse error : invalid aggregation count_over_time with unwrap"),
    # Loki: increase 15-10 plus 20 at the reset = 25 over 3 s of samples (1 s apart); the zero
    # point is 3*(10/25) = 1.2 s before the first sample, more than 1.1 intervals, so half an
    # interval is added: 25 * 3.5/3 = 29.1666…, per second of the 1m range.
    case("rate_counter: counter resets and Prometheus' extrapolation", 'rate_counter({job="c"} | json n | unwrap n [1m])', lines=cn, time=T1,
         expect=vector(t1, ({"job": "c"}, "0.4861111111111111"))),
    case("rate_counter of one sample is 0", 'rate_counter({job="c"} | json n | unwrap n [1m])', lines=cn[:1], time=T1,
         expect=vector(t1, ({"job": "c"}, "0"))),
    case("absent_over_time of nothing", 'absent_over_time({job="nope"}[5m])', time=T1, expect=vector(t1, ({"job": "nope"}, "1"))),
    case("absent_over_time of something", 'absent_over_time({job="gw"}[5m])', time=T1, expect=vector(t1)),
    case("offset", 'count_over_time({job="gw"}[5m] offset 1m)', time="2026-11-25T18:06:00Z", expect=vector(1795629960, (GO, "1"), (RUST, "2"))),
    case("without offset the window is empty", 'count_over_time({job="gw"}[5m])', time="2026-11-25T18:06:00Z", expect=vector(1795629960)),
    case("(…)[5m]", 'count_over_time(({job="gw"} |= "GET")[5m])', time=T1, expect=vector(t1, (RUST, "2"))),
    case("pipeline after the range", 'count_over_time({job="gw"}[5m] |= "GET")', time=T1, expect=vector(t1, (RUST, "2"))),
    case("range query", 'sum(count_over_time({job="gw"}[1m]))', start="2026-11-25T18:00:00Z", end="2026-11-25T18:02:00Z", step="1m",
         expect=matrix(({}, [[t1, "3"]]))),
    case("range query with overlapping windows", 'sum(count_over_time({job="gw"}[1m]))', start="2026-11-25T18:00:00Z", end="2026-11-25T18:01:30Z", step="30s",
         expect=matrix(({}, [[1795629630, "3"], [t1, "3"]]))),
]
VG = 'sum by (lang) (count_over_time({job=~".+"}[5m]))'
VM = 'sum by (module) (count_over_time({job=~".+"}[5m]))'
files["07_vector_and_binary.json"] = [
    case("count", 'count(count_over_time({job=~".+"}[5m]))', time=T1, expect=vector(t1, ({}, "3"))),
    case("avg without", 'avg without (stream) (count_over_time({job=~".+"}[5m]))', time=T1,
         expect=vector(t1, ({"job": "batch", "lang": "c", "module": "cron"}, "1"), ({"job": "gw", "lang": "go", "module": "api"}, "1"), ({"job": "gw", "lang": "rust", "module": "api"}, "2"))),
    case("max", 'max(' + VG + ')', time=T1, expect=vector(t1, ({}, "2"))),
    case("stddev", 'stddev(' + VM + ')', time=T1, expect=vector(t1, ({}, "1"))),
    case("topk", 'topk(1, ' + VG + ')', time=T1, expect=vector(t1, ({"lang": "rust"}, "2"))),
    case("bottomk", 'bottomk(1, ' + VM + ')', time=T1, expect=vector(t1, ({"module": "cron"}, "1"))),
    case("sort", 'sort(' + VM + ')', time=T1, expect=vector(t1, ({"module": "cron"}, "1"), ({"module": "api"}, "3"))),
    case("sort_desc", 'sort_desc(' + VM + ')', time=T1, expect=vector(t1, ({"module": "api"}, "3"), ({"module": "cron"}, "1"))),
    case("vector / vector", 'sum(count_over_time({job="gw"}[5m])) / sum(count_over_time({job=~".+"}[5m]))', time=T1, expect=vector(t1, ({}, "0.75"))),
    case("filtering comparison", VG + ' > 1', time=T1, expect=vector(t1, ({"lang": "rust"}, "2"))),
    case("bool comparison", VG + ' > bool 1', time=T1, expect=vector(t1, ({"lang": "c"}, "0"), ({"lang": "go"}, "0"), ({"lang": "rust"}, "1"))),
    case("on + group_left", 'sum by (lang, module) (count_over_time({job=~".+"}[5m])) / on (module) group_left ' + VM, time=T1,
         expect=vector(t1, ({"lang": "c", "module": "cron"}, "1"), ({"lang": "go", "module": "api"}, "0.3333333333333333"), ({"lang": "rust", "module": "api"}, "0.6666666666666666"))),
    case("one-to-one needs unique matches", 'sum by (lang, module) (count_over_time({job=~".+"}[5m])) / on (module) ' + VM, time=T1, error="many-to-one matching must be explicit"),
    case("and", VG + ' and on (lang) sum by (lang) (count_over_time({job="gw"}[5m]))', time=T1, expect=vector(t1, ({"lang": "go"}, "1"), ({"lang": "rust"}, "2"))),
    case("unless", VG + ' unless on (lang) sum by (lang) (count_over_time({job="gw"}[5m]))', time=T1, expect=vector(t1, ({"lang": "c"}, "1"))),
    case("or", 'sum by (lang) (count_over_time({job="gw"}[5m])) or ' + VG, time=T1, expect=vector(t1, ({"lang": "c"}, "1"), ({"lang": "go"}, "1"), ({"lang": "rust"}, "2"))),
    case("vector() and arithmetic precedence", 'vector(1) + 2 * 3 ^ 2', time=T1, expect=vector(t1, ({}, "19"))),
    case("literals only: a scalar", '1 + 2 * 3', time=T1, expect=scalar(t1, "7")),
    case("label_replace", 'label_replace(sum by (lang) (count_over_time({job="gw"}[5m])), "l2", "x-$1", "lang", "(r).*")', time=T1,
         expect=vector(t1, ({"l2": "x-r", "lang": "rust"}, "2"), ({"lang": "go"}, "1"))),
    case("sort refuses grouping", 'sort(' + VG + ') by (lang)', error="grouping not allowed for sort aggregation"),
    case("topk needs a positive integer", 'topk(0, ' + VG + ')', error="invalid parameter"),
    case("set operators refuse literals", VG + ' and 1', error="unexpected literal for right leg of logical/set binary operation (and)"),
]
files["08_syntax_errors.json"] = [
    case("unterminated selector", '{job="x"', error="parse error at byte 8"),
    case("empty selector", '{}', error="parse error at byte 1: syntax error: unexpected }, expecting IDENTIFIER"),
    case("dangling pipe", '{job="x"} |', error="parse error at byte 11"),
    case("range without aggregation", '{job="x"}[5m]', error="needs a range aggregation"),
    case("aggregation without range", 'count_over_time({job="x"})', error="expected `[`"),
    case("bad duration", 'rate({job="x"}[5minutes])', error='not a valid duration string: "5minutes"'),
    case("bad regex", '{job=~"("}', error="error parsing regexp"),
    case("unknown function", 'nope({job="x"}[5m])', error='unexpected IDENTIFIER "nope"'),
    case("unwrap outside a range aggregation", '{job="x"} | unwrap lat', error="unwrap is only allowed in a range aggregation"),
    case("too deep", '{job="x"} | ' + "(" * 300 + 'a="1"' + ")" * 300, error="query nested deeper than 256 levels"),
    # String literals as Loki's lexer reads them: Go's text/scanner, then
    # Prometheus' strutil.Unquote (not Go's strconv.Unquote: see 09_templates).
    case("a raw newline inside a double-quoted string", '{job="gw"} |= "GET\n/a"', error="parse error at byte 18: literal not terminated"),
    case("an escape Go does not have", r'{job="gw"} |= "\q"', error="parse error at byte 15: invalid char escape"),
    case("too few hex digits after \\x", r'{job="gw"} |= "\x4"', error="invalid char escape"),
    case("an octal escape above \\377", r'{job="gw"} |= "\400"', error="parse error at byte 15: invalid syntax"),
    case("\\U above U+10FFFF", r'{job="gw"} |= "\U00110000"', error="invalid syntax"),
    # A range is read as Loki's lexer reads it: the text between the brackets
    # through Prometheus' model.ParseDuration alone; an offset (like a
    # duration label filter) also takes Go's time.ParseDuration.
    case("a fractional range is refused", 'count_over_time({job="gw"}[1.5m])', error='not a valid duration string: "1.5m"'),
    case("spaces inside the range brackets are refused", 'count_over_time({job="gw"}[ 5m ])', error='not a valid duration string: " 5m "'),
    case("range units go from the biggest to the smallest", 'count_over_time({job="gw"}[1m1h])', error='not a valid duration string: "1m1h"'),
    case("Go's units are not range units", 'count_over_time({job="gw"}[300000us])', error='not a valid duration string: "300000us"'),
    case("an offset takes Go's durations", 'count_over_time({job="gw"}[5m] offset 0.5m)', time=T1, expect=vector(t1, (GO, "1"), (RUST, "2"))),
    case("a raw string may hold a newline", '{job="gw"} |= `GET\n/a`', expect=streams()),
]
# Where Loki's grammar (syntax.y, lex.go) and the hand-written parser before
# the winnow one disagreed: Loki's answer.
files["09_grammar.json"] = [
    case("keywords in any case, as Loki's lexer reads them", 'SUM BY (lang) (Count_Over_Time({job=~".+"}[5m]))', time=T1,
         expect=vector(t1, ({"lang": "c"}, "1"), ({"lang": "go"}, "1"), ({"lang": "rust"}, "2"))),
    case("a line filter's or takes ip()", '{job="ip"} |= "10.0.0.5" or ip("192.168.0.0/16")', lines=ipl,
         expect=streams(({"job": "ip"}, [[ns(3), ipl[2]], [ns(2), ipl[1]], [ns(1), ipl[0]]]))),
    case("a numeric label filter takes a + sign (literalExpr)", '{job="gw"} | json | seq > +1 | keep job', expect=streams(({"job": "gw"}, [[ns(2), g2]]))),
    case("a whole range expression in parentheses", 'count_over_time(({job="gw"} |= "GET" [5m]))', time=T1, expect=vector(t1, (RUST, "2"))),
    case("a pipeline on both sides of the range is refused", 'count_over_time({job="gw"} | json [5m] | logfmt)', error="expected `)`"),
    case("no trailing comma in a grouping", 'sum by (lang,) (count_over_time({job="gw"}[5m]))', error="expected a label name"),
    case("no trailing comma in a selector", '{job="gw",}', error="expected a label name"),
    case("group_left needs on or ignoring", VG + ' / group_left (module) ' + VM, error='unexpected IDENTIFIER "group_left"'),
    case("on and ignoring together are refused", VG + ' / on (lang) ignoring (lang) ' + VG, error='unexpected IDENTIFIER "ignoring"'),
    case("vector() takes an unsigned NUMBER", 'vector(-1)', error="expected a number"),
    case("a log query as a leg of a binary operation: Loki's wording", '{job="gw"} / ' + VG,
         error="parse error : unexpected type for left leg of binary operation (/): *syntax.MatchersExpr"),
    case("a literal as the left leg of a set operation: Loki's wording", '1 unless ' + VG,
         error="parse error : unexpected literal for left leg of logical/set binary operation (unless): 1.000000"),
]
for name, cases in files.items():
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)
        f.write("\n")
print(sum(len(c) for c in files.values()))
