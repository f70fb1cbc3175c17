package config

import (
	"strings"
	"testing"
)

func TestAuthorityWarnings(t *testing.T) {
	tests := []struct {
		name       string
		trust      bool
		authserv   string
		assignable []string
		want       []string // substrings, one per warning
	}{
		{"defaults", false, "", nil, nil},
		{"trust with authserv_id", true, "mx.example.test", []string{"*@contractor.example"}, nil},
		{"trust without authserv_id", true, "", nil, []string{"trust_authentication_results without authserv_id"}},
		{"authserv_id without trust", false, "mx.example.test", nil, []string{"authserv_id has no effect"}},
		{"assignable anyone", true, "mx.example.test", []string{"*"}, []string{`assignable "*"`}},
		{"assignable any domain", true, "mx.example.test", []string{"*@*", "bob@*.example"}, []string{`assignable "*@*"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Department{Name: "IT", Address: "it-help@example.test",
				TrustAuthenticationResults: tt.trust, AuthservID: tt.authserv}
			d.Assignable = tt.assignable
			got := (&Config{Departments: []*Department{d}}).AuthorityWarnings()
			if len(got) != len(tt.want) {
				t.Fatalf("warnings %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) || !strings.Contains(got[i], `department "IT"`) {
					t.Errorf("warning %q does not name the department and %q", got[i], w)
				}
			}
		})
	}
}
