package conformance

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// gradeNames in the order summaries list them.
var gradeNames = []string{OK, NonStrict, Informational, Unimplemented, Failed, Unclean, WrongCode, FailedByClient}

// Summary writes the Autobahn grades (counts, then every case that is not
// strictly OK) and, in a section of its own, the findings beyond Autobahn.
// It reports whether every case is strictly OK by Autobahn's grades and
// whether no finding failed.
func Summary(w io.Writer, results []*Result, findings []Finding) (autobahnOK, strictOK bool) {
	behavior, closing := map[string]int{}, map[string]int{}
	var bad []*Result
	for _, r := range results {
		behavior[r.Behavior]++
		closing[r.BehaviorClose]++
		if !r.Strict() {
			bad = append(bad, r)
		}
	}
	counts := func(m map[string]int) string {
		var parts []string
		for _, g := range gradeNames {
			if m[g] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", g, m[g]))
			}
		}
		return strings.Join(parts, ", ")
	}
	fmt.Fprintf(w, "Autobahn grades, %d cases\n  behavior: %s\n  closing behavior: %s\n", len(results), counts(behavior), counts(closing))
	for _, r := range bad {
		fmt.Fprintf(w, "  %-8s %-13s %-16s %s\n", r.ID, r.Behavior, r.BehaviorClose, r.Reason())
	}
	if len(bad) == 0 {
		fmt.Fprintln(w, "  every case strictly OK")
	}
	strictOK = true
	if len(findings) > 0 {
		fmt.Fprintln(w, "Beyond Autobahn (count with -strict)")
		for _, f := range findings {
			fmt.Fprintf(w, "  %-13s %-20s %s\n", f.Verdict, f.Check, f.Description)
			if len(f.Cases) > 0 {
				fmt.Fprintf(w, "      cases: %s\n", casesList(f.Cases))
			}
			for _, d := range f.Details {
				if f.Verdict == OK && !strings.HasPrefix(d, Failed) && f.Check == CheckHandshake {
					continue // the passed handshake probes are in the report
				}
				fmt.Fprintf(w, "      %s\n", d)
			}
			if !f.Passed() {
				strictOK = false
			}
		}
	}
	return len(bad) == 0, strictOK
}

// reportEntry is one case in index.json, as Autobahn writes it.
type reportEntry struct {
	Behavior        string `json:"behavior"`
	BehaviorClose   string `json:"behaviorClose"`
	Duration        int64  `json:"duration"`
	RemoteCloseCode *int   `json:"remoteCloseCode"`
	ReportFile      string `json:"reportfile"`
}

func code(c int) *int {
	if c < 0 {
		return nil
	}
	return &c
}

// closeReason is a close reason as Autobahn reports it: null when absent,
// hex when it is not UTF-8.
func closeReason(p []byte) *string {
	if p == nil {
		return nil
	}
	s := string(p)
	if !utf8.Valid(p) {
		s = hex.EncodeToString(p)
	}
	return &s
}

// cleanForFilename is Autobahn's: lower case, runs of anything but
// letters and digits become one underscore.
func cleanForFilename(s string) string {
	s = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return ' '
	}, strings.ToLower(strings.TrimSpace(s)))
	return strings.ReplaceAll(strings.TrimSpace(s), " ", "_")
}

func reportFile(agent, id string) string {
	return cleanForFilename(agent) + "_case_" + strings.ReplaceAll(id, ".", "_") + ".json"
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// caseReport is the per-case report with Autobahn's field names and
// meanings (its wire log and traffic statistics left out).
func caseReport(agent string, number int, r *Result) map[string]any {
	expected := r.Expected
	if expected == nil {
		expected = map[string][][]any{}
	}
	return map[string]any{
		"agent": agent, "case": number, "id": r.ID,
		"description": r.Description, "expectation": r.Expectation,
		"behavior": r.Behavior, "behaviorClose": r.BehaviorClose,
		"result": r.Result, "resultClose": r.ResultClose,
		"started":  r.Started.UTC().Format("2006-01-02T15:04:05.000Z"),
		"duration": r.Duration.Milliseconds(),
		"expected": expected, "expectedClose": r.ExpectedClose, "received": r.Observed,
		"isServer": r.IsServer, "closedByMe": r.ClosedByMe, "failedByMe": r.FailedByMe, "droppedByMe": r.DroppedByMe,
		"wasClean": r.WasClean, "wasNotCleanReason": nullable(r.WasNotCleanReason),
		"wasServerConnectionDropTimeout": r.WasServerConnectionDropTimeout,
		"wasOpenHandshakeTimeout":        r.WasOpenHandshakeTimeout,
		"wasCloseHandshakeTimeout":       r.WasCloseHandshakeTimeout,
		"localCloseCode":                 code(r.LocalCode), "localCloseReason": closeReason(r.LocalReason),
		"remoteCloseCode": code(r.RemoteCode), "remoteCloseReason": closeReason(r.RemoteReason),
	}
}

// WriteJSON writes, in dir, index.json in the shape of Autobahn's
// ({agent: {case: {behavior, behaviorClose, duration, remoteCloseCode,
// reportfile}}}), one report per case with Autobahn's field names, and
// strict.json with the findings beyond Autobahn ({agent: [finding]}).
func WriteJSON(dir, agent string, results []*Result, findings []Finding) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	index := map[string]map[string]reportEntry{agent: {}}
	for i, r := range results {
		file := reportFile(agent, r.ID)
		index[agent][r.ID] = reportEntry{r.Behavior, r.BehaviorClose, r.Duration.Milliseconds(), code(r.RemoteCode), file}
		if err := writeJSONFile(filepath.Join(dir, file), caseReport(agent, i+1, r)); err != nil {
			return err
		}
	}
	if err := writeJSONFile(filepath.Join(dir, "strict.json"), map[string][]Finding{agent: findings}); err != nil {
		return err
	}
	return writeJSONFile(filepath.Join(dir, "index.json"), index)
}

// writeJSONFile writes v as Autobahn does: keys sorted, three spaces of
// indent.
func writeJSONFile(name string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "   ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	return os.WriteFile(name, buf.Bytes(), 0o644)
}

var htmlReport = template.Must(template.New("report").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>websock conformance: {{.Agent}}</title>
<style>body{font-family:sans-serif}td,th{padding:2px 8px;border-bottom:1px solid #ddd;vertical-align:top}
.OK,.INFORMATIONAL{background:#cfc}.NON-STRICT,.UNIMPLEMENTED,.NOT{background:#ffc}.FAILED,.UNCLEAN,.WRONG{background:#fcc}</style></head>
<body><h1>{{.Agent}}: {{.Strict}} of {{len .Results}} cases strictly OK</h1>
<h2>Autobahn grades</h2>
<table><tr><th>case</th><th>behavior</th><th>close</th><th>ms</th><th>description</th><th>reason</th></tr>
{{range .Results}}<tr><td>{{.ID}}</td><td class="{{.Behavior}}">{{.Behavior}}</td><td class="{{.BehaviorClose}}">{{.BehaviorClose}}</td><td>{{.Duration.Milliseconds}}</td><td>{{.Description}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>
{{if .Findings}}<h2>Beyond Autobahn</h2>
<table><tr><th>check</th><th>verdict</th><th>description</th><th>details</th></tr>
{{range .Findings}}<tr><td>{{.Check}}</td><td class="{{.Verdict}}">{{.Verdict}}</td><td>{{.Description}}</td><td>{{range .Details}}{{.}}<br>{{end}}{{if .Cases}}cases: {{range .Cases}}{{.}} {{end}}{{end}}</td></tr>
{{end}}</table>{{end}}</body></html>
`))

// WriteHTML writes a summary table of the results and the findings.
func WriteHTML(w io.Writer, agent string, results []*Result, findings []Finding) error {
	strict := 0
	for _, r := range results {
		if r.Strict() {
			strict++
		}
	}
	return htmlReport.Execute(w, struct {
		Agent    string
		Strict   int
		Results  []*Result
		Findings []Finding
	}{agent, strict, results, findings})
}
