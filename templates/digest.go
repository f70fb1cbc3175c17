package templates

import "time"

// NameDigest is the staff digest's template name.
const NameDigest = "digest"

// Digest is the data of the staff digest: the department's queue and its
// commitment record. The figures are computed elsewhere (mailwatch/report)
// and arrive here preformatted, so that templates stay free of arithmetic.
type Digest struct {
	Department        string
	DepartmentAddress string
	Now               time.Time
	Location          *time.Location
	// Since is the start of "new" (the previous digest, or 24 hours ago).
	Since time.Time
	// WindowDays is how many days the record covers.
	WindowDays int
	// AllClear: nothing is open and nothing new arrived.
	AllClear bool
	// Sections are the lists in order (new, due today, overdue, other
	// unanswered, waiting on the requester); empty ones are kept so a
	// template may say "none".
	Sections []DigestSection
	// Overall is the department's record; Categories one per category.
	Overall    DigestRecord
	Categories []DigestRecord
	// Reminders received and late notices sent in the window.
	Reminders   int
	LateNotices int
	// Parked are messages ackd could not handle and moved on past (their
	// handling kept failing); they wait for an admin. Empty: none.
	Parked []DigestParked
	// HeldReceipts counts the open requests whose receipt a sending limit
	// holds (they are tracked; the receipt waits for its window).
	HeldReceipts int
	// Away are the staff who are away (an out-of-office reply, #away):
	// they get no new requests and no escalations until Until.
	Away []DigestAway
}

// DigestAway is one staff member who is away.
type DigestAway struct {
	Address string
	Until   time.Time
}

// DigestParked is one parked message.
type DigestParked struct {
	Mailbox  string
	UID      uint32
	From     string // "" when unknown
	Subject  string
	Received time.Time // zero when unknown
	Attempts int
	Error    string // the last error
}

// DigestSection is one list of requests.
type DigestSection struct {
	Title string // "New since Monday 16 March, 08:30"
	Short string // "new", for the subject
	Items []DigestItem
}

// DigestItem is one request in a digest list.
type DigestItem struct {
	Ref       string
	Subject   string
	Requester string
	Category  string
	Due       time.Time // zero when there is no commitment
	Age       string    // business time since receipt: "3h 20m"
	Overdue   bool
	// ReceiptHeld: a sending limit holds the request's receipt.
	ReceiptHeld bool
	// Owner is who owns the request; "" when nobody does.
	Owner string
}

// DigestRecord is one line of the commitment record.
type DigestRecord struct {
	Category   string // "" for the department as a whole
	Commitment string // "4h", "3d"; "" when none
	Kept       int
	Judged     int // kept + missed
	Pending    int // not yet due
	// KeptPercent is Kept/Judged rounded, 0–100; -1 when nothing was judged.
	KeptPercent int
	// Median and P80 are first-response business times, "" when none.
	Median, P80 string
	// Suggest is a realistic commitment ("5h", "2d"), "" when the current
	// one fits; Advice says why.
	Suggest, Advice string
	// Aim is the category's aim ("2h"), "" when it has none; AimMet of
	// AimJudged met it, AimPercent rounded (-1 when none was judged).
	Aim               string
	AimMet, AimJudged int
	AimPercent        int
	// Rated counts the answers to "how did we do?" in the window (0:
	// none); Satisfaction is their mean ("4.2"), LowRated the low ones.
	Rated, LowRated int
	Satisfaction    string
}

// MissedPercent is the rest of the bar: 100 - KeptPercent, 0 when nothing
// was judged.
func (r DigestRecord) MissedPercent() int {
	if r.KeptPercent < 0 {
		return 0
	}
	return 100 - r.KeptPercent
}

// Digest renders the staff digest.
func (s *Set) Digest(d Digest) (Rendered, error) { return s.Render(NameDigest, d) }

// digestSamples are the data Load renders the digest templates with.
func digestSamples(at func(day, hour, minute int) time.Time, loc *time.Location) []any {
	return []any{
		Digest{Department: "IT Help Desk", DepartmentAddress: "it-help@example.test", Now: at(2, 8, 30), Location: loc,
			Since: at(1, 8, 30), WindowDays: 30,
			Sections: []DigestSection{
				{Title: "New since Tuesday 1 December, 08:30", Short: "new", Items: []DigestItem{{Ref: "REQ-12", Subject: "Printer jams",
					Requester: "jane.doe@example.test", Category: "hardware", Due: at(2, 17, 0), Age: "7h 18m", ReceiptHeld: true}}},
				{Title: "Overdue", Short: "overdue", Items: []DigestItem{{Ref: "REQ-9", Subject: "VPN", Requester: "bob@example.test",
					Category: "network", Due: at(1, 17, 0), Age: "1d", Overdue: true}}},
				{Title: "Waiting on the requester", Short: "waiting"},
			},
			Overall: DigestRecord{Kept: 8, Judged: 10, KeptPercent: 80, Median: "2h", P80: "5h"},
			Categories: []DigestRecord{{Category: "hardware", Commitment: "4h", Kept: 8, Judged: 10, Pending: 1, KeptPercent: 80,
				Median: "2h", P80: "5h", Suggest: "5h", Advice: "p80 first response 5h is above the 4h commitment"},
				{Category: "default", Commitment: "3d", KeptPercent: -1}},
			Reminders: 2, LateNotices: 1,
			Parked: []DigestParked{{Mailbox: "INBOX", UID: 4711, From: "jane.doe@example.test", Subject: "Scanner",
				Received: at(1, 9, 0), Attempts: 5, Error: "record request: database is locked"}}, HeldReceipts: 1,
			Away: []DigestAway{{Address: "bob@example.test", Until: at(7, 0, 0)}}},
		Digest{AllClear: true},
	}
}
