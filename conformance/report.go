package conformance

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Summary counts results per grade and lists those that are not strict.
func Summary(w io.Writer, results []*Result) (strict bool) {
	counts := map[string]int{}
	var bad []*Result
	for _, r := range results {
		counts["behavior "+r.Behavior]++
		counts["close "+r.BehaviorClose]++
		if !r.Strict() {
			bad = append(bad, r)
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "%d cases:", len(results))
	for _, k := range keys {
		fmt.Fprintf(w, "  %s %d", k, counts[k])
	}
	fmt.Fprintln(w)
	for _, r := range bad {
		fmt.Fprintf(w, "  %-8s %-13s %-10s %s\n", r.ID, r.Behavior, r.BehaviorClose, r.Reason)
	}
	if len(bad) == 0 {
		fmt.Fprintln(w, "all cases strictly OK")
	}
	return len(bad) == 0
}

// reportEntry is one case in an index, as Autobahn's index.json has it.
type reportEntry struct {
	Behavior        string `json:"behavior"`
	BehaviorClose   string `json:"behaviorClose"`
	Duration        int64  `json:"duration"`
	RemoteCloseCode *int   `json:"remoteCloseCode"`
	ReportFile      string `json:"reportfile"`
}

// caseReport is the per-case report, with Autobahn's field names.
type caseReport struct {
	Agent            string             `json:"agent"`
	ID               string             `json:"id"`
	Description      string             `json:"description"`
	Behavior         string             `json:"behavior"`
	BehaviorClose    string             `json:"behaviorClose"`
	Result           string             `json:"result"`
	Duration         int64              `json:"duration"`
	Expected         map[string][][]any `json:"expected"`
	Received         [][]any            `json:"received"`
	ClosedByMe       bool               `json:"closedByMe"`
	DroppedByMe      bool               `json:"droppedByMe"`
	WasClean         bool               `json:"wasClean"`
	LocalCloseCode   *int               `json:"localCloseCode"`
	RemoteCloseCode  *int               `json:"remoteCloseCode"`
	RemoteCloseRsn   *string            `json:"remoteCloseReason"`
	NegotiatedDeflat string             `json:"extensions,omitempty"`
}

func code(c int) *int {
	if c < 0 {
		return nil
	}
	return &c
}

func reportFile(agent, id string) string {
	return strings.ToLower(strings.ReplaceAll(agent, " ", "_")) + "_case_" + strings.ReplaceAll(id, ".", "_") + ".json"
}

// WriteJSON writes dir/index.json in the shape of Autobahn's index
// ({agent: {case: {behavior, behaviorClose, duration, remoteCloseCode,
// reportfile}}}) and one report file per case.
func WriteJSON(dir, agent string, results []*Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	index := map[string]map[string]reportEntry{agent: {}}
	for _, r := range results {
		file := reportFile(agent, r.ID)
		index[agent][r.ID] = reportEntry{r.Behavior, r.BehaviorClose, r.Duration.Milliseconds(), code(r.RemoteCode), file}
		rep := caseReport{
			Agent: agent, ID: r.ID, Description: r.Description, Behavior: r.Behavior, BehaviorClose: r.BehaviorClose,
			Result: r.Reason, Duration: r.Duration.Milliseconds(), Expected: r.Expected, Received: r.Observed,
			ClosedByMe: r.ClosedByMe, DroppedByMe: r.DroppedByMe, WasClean: r.WasClean,
			LocalCloseCode: code(r.LocalCode), RemoteCloseCode: code(r.RemoteCode), NegotiatedDeflat: r.Extensions,
		}
		if r.RemoteCode >= 0 {
			rep.RemoteCloseRsn = &r.RemoteReason
		}
		if err := writeJSONFile(filepath.Join(dir, file), rep); err != nil {
			return err
		}
	}
	return writeJSONFile(filepath.Join(dir, "index.json"), index)
}

func writeJSONFile(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(name, append(b, '\n'), 0o644)
}

var htmlReport = template.Must(template.New("report").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>websock conformance: {{.Agent}}</title>
<style>body{font-family:sans-serif}td,th{padding:2px 8px;border-bottom:1px solid #ddd}
.OK,.INFORMATIONAL{background:#cfc}.NON-STRICT,.UNIMPLEMENTED{background:#ffc}.FAILED,.UNCLEAN,.WRONG{background:#fcc}</style></head>
<body><h1>{{.Agent}}: {{.Strict}} of {{len .Results}} cases strictly OK</h1>
<table><tr><th>case</th><th>behavior</th><th>close</th><th>ms</th><th>description</th><th>reason</th></tr>
{{range .Results}}<tr><td>{{.ID}}</td><td class="{{.Behavior}}">{{.Behavior}}</td><td class="{{.BehaviorClose}}">{{.BehaviorClose}}</td><td>{{.Duration.Milliseconds}}</td><td>{{.Description}}</td><td>{{.Reason}}</td></tr>
{{end}}</table></body></html>
`))

// WriteHTML writes a summary table of the results.
func WriteHTML(w io.Writer, agent string, results []*Result) error {
	strict := 0
	for _, r := range results {
		if r.Strict() {
			strict++
		}
	}
	return htmlReport.Execute(w, struct {
		Agent   string
		Strict  int
		Results []*Result
	}{agent, strict, results})
}
