package pgdsn

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		dsn   string
		hosts []string
		mode  string
	}{
		// URLs
		{"postgres://ackd@db.example.org/ackd?sslmode=verify-full", []string{"db.example.org"}, "verify-full"},
		{"postgresql://ackd@db.example.org:5433/ackd", []string{"db.example.org"}, ""},
		{"POSTGRES://db.example.org/ackd?sslmode=Require", []string{"db.example.org"}, "require"},
		{"postgres://ackd@h1.example.org:5432,h2.example.org:5433/ackd?sslmode=verify-ca", []string{"h1.example.org", "h2.example.org"}, "verify-ca"},
		{"postgres://[::1]:5432,[2001:db8::5]/ackd", []string{"::1", "2001:db8::5"}, ""},
		{"postgres://%2Fvar%2Frun%2Fpostgresql/ackd", []string{"/var/run/postgresql"}, ""},
		{"postgres:///ackd?host=/var/run/postgresql", []string{"/var/run/postgresql"}, ""},
		{"postgres://localhost/ackd?host=db.example.org&sslmode=disable", []string{"db.example.org"}, "disable"},
		{"postgres:///ackd", nil, ""},
		{"postgres://db.example.org/ackd?ssl=true", []string{"db.example.org"}, "require"},
		{"postgres://db.example.org/ackd?sslrootcert=system", []string{"db.example.org"}, "verify-full"},
		{"postgres://db.example.org/ackd?sslmode=disable&sslmode=verify-full", []string{"db.example.org"}, "verify-full"},
		{"postgres://127.0.0.1/ackd?hostaddr=192.0.2.7", []string{"127.0.0.1", "192.0.2.7"}, ""},
		// key=value
		{"host=db.example.org dbname=ackd sslmode=verify-full", []string{"db.example.org"}, "verify-full"},
		{"host=h1.example.org,h2.example.org port=5432,5433 user=ackd", []string{"h1.example.org", "h2.example.org"}, ""},
		{"host = 'db.example.org' sslmode = 'verify-ca'", []string{"db.example.org"}, "verify-ca"},
		{"host=/var/run/postgresql dbname=ackd", []string{"/var/run/postgresql"}, ""},
		{"host=127.0.0.1 port=15432 dbname=ackd_test sslmode=disable", []string{"127.0.0.1"}, "disable"},
		{"dbname=ackd", nil, ""},
		{"", nil, ""},
		{"host=db.example.org sslmode=disable sslmode=verify-full", []string{"db.example.org"}, "verify-full"},
		{`host=db.example.org application_name='ackd \'prod\'' sslmode=require`, []string{"db.example.org"}, "require"},
		{"host=localhost hostaddr=10.1.2.3", []string{"localhost", "10.1.2.3"}, ""},
		{"HOST=db.example.org SSLMODE=VERIFY-FULL", []string{"db.example.org"}, "verify-full"},
	}
	for _, tc := range tests {
		d, err := Parse(tc.dsn)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.dsn, err)
			continue
		}
		if !slices.Equal(d.Hosts, tc.hosts) || d.SSLMode != tc.mode {
			t.Errorf("Parse(%q) = hosts %q mode %q, want %q %q", tc.dsn, d.Hosts, d.SSLMode, tc.hosts, tc.mode)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, dsn := range []string{
		"just-a-word",
		"host=db.example.org sslmode='verify-full",
		"bad key=1",
		"postgres://[::1/ackd",
		"postgres://db%zz/ackd",
		"postgres://db.example.org/ackd?sslmode=%zz",
	} {
		_, err := Parse(dsn + " password=hunter2")
		if err == nil {
			t.Errorf("Parse(%q): no error", dsn)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Parse(%q): error %q quotes the string", dsn, err)
		}
	}
}

func TestProblem(t *testing.T) {
	tests := []struct {
		dsn  string
		want string // part of the problem; "" for none
	}{
		{"postgres://ackd@db.example.org/ackd", `host "db.example.org" is not loopback and no sslmode is set`},
		{"postgres://ackd@db.example.org/ackd?sslmode=disable", "sslmode=disable sends everything in plaintext"},
		{"postgres://ackd@db.example.org/ackd?sslmode=prefer", "may fall back to plaintext"},
		{"host=db.example.org sslmode=allow", "may fall back to plaintext"},
		{"host=db.example.org sslmode=require", "does not check the server's certificate"},
		{"postgres://db.example.org/ackd?ssl=true", "does not check the server's certificate"},
		{"host=db.example.org sslmode=verify-fully", `sslmode "verify-fully" is not one of`},
		{"host=localhost,db.example.org sslmode=disable", `host "db.example.org"`},
		{"postgres://127.0.0.1/ackd?hostaddr=192.0.2.7", `host "192.0.2.7"`},
		{"host=10.0.0.5", `host "10.0.0.5"`},
		// Allowed: verified, loopback, sockets, no host at all.
		{"postgres://ackd@db.example.org/ackd?sslmode=verify-full", ""},
		{"host=h1.example.org,h2.example.org sslmode=verify-ca", ""},
		{"postgres://db.example.org/ackd?sslrootcert=system", ""},
		{"postgres://ackd_test@127.0.0.1:15432/ackd_test?sslmode=disable", ""},
		{"postgres://[::1]/ackd", ""},
		{"host=localhost sslmode=prefer", ""},
		{"host=127.0.0.2,::1 sslmode=disable", ""},
		{"host=/var/run/postgresql dbname=ackd", ""},
		{"postgres://%2Ftmp/ackd", ""},
		{"host=@abstract-socket", ""},
		{"dbname=ackd", ""},
	}
	for _, tc := range tests {
		d, err := Parse(tc.dsn)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.dsn, err)
			continue
		}
		got := d.Problem()
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("Problem(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
		if err := CheckTLS(tc.dsn); (err != nil) != (tc.want != "") {
			t.Errorf("CheckTLS(%q) = %v", tc.dsn, err)
		}
	}
}

func TestDSNHasPassword(t *testing.T) {
	cases := []struct {
		dsn  string
		want bool
	}{
		{"postgres://ackd@127.0.0.1:15432/ackd?sslmode=disable", false},
		{"postgresql://ackd@db.example.test/ackd", false},
		{"postgres://ackd:s3cret@127.0.0.1/ackd", true},
		{"POSTGRES://ackd:s3cret@127.0.0.1/ackd", true},
		{"postgres://ackd:@127.0.0.1/ackd", true},
		{"postgres://ackd@127.0.0.1/ackd?sslmode=disable&password=s3cret", true},
		{"postgres://ackd@127.0.0.1/ackd?sslpassword=keypass", false},
		{"postgres://ackd:s3cret@127.0.0.1:notaport/ackd", true},
		{"postgres://ackd@127.0.0.1:notaport/ackd?password=s3cret", true},
		{"host=127.0.0.1 user=ackd dbname=ackd", false},
		{"host=127.0.0.1 user=ackd password=s3cret", true},
		{"password = 's3 cret' host=127.0.0.1", true},
		{"host=127.0.0.1 sslpassword=keypass", false},
	}
	for _, tc := range cases {
		if got := HasPassword(tc.dsn); got != tc.want {
			t.Errorf("HasPassword(%q) = %v, want %v", tc.dsn, got, tc.want)
		}
	}
}
