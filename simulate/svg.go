package simulate

import (
	"bytes"
	"fmt"
	"math"
)

// SVG plots, for every reported request, the business time promised in
// the receipt (x) against the business time it took to answer (y), static
// and queue-aware side by side. Points above the diagonal are broken
// promises.
func (res *Result) SVG() []byte {
	const (
		w, h           = 980, 470
		panel          = 400
		left, top, gap = 60, 40, 90
	)
	cal := res.calendar
	var maxH float64
	for _, r := range res.Requests {
		if !r.Reported || r.Answer.IsZero() {
			continue
		}
		maxH = math.Max(maxH, cal.BusinessBetween(r.Arrival, r.Answer).Hours())
		for _, o := range r.Outcomes {
			maxH = math.Max(maxH, cal.BusinessBetween(r.Arrival, o.Promise).Hours())
		}
	}
	maxH = math.Ceil(maxH/4) * 4
	if maxH == 0 {
		maxH = 4
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	for m := Static; m <= QueueAware; m++ {
		x0 := left + int(m)*(panel+gap)
		f := res.Modes[m]
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="14" font-weight="bold">%s: %.1f %% of %d promises kept</text>`+"\n",
			x0, top-15, m, 100*f.KeptShare(), f.Requests)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>`+"\n", x0, top, panel, panel)
		for tick := 0.0; tick <= maxH; tick += tickStep(maxH) {
			px := float64(x0) + tick/maxH*panel
			py := float64(top+panel) - tick/maxH*panel
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" text-anchor="middle">%g</text>`+"\n",
				px, top, px, top+panel, px, top+panel+15, tick)
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%g</text>`+"\n",
				x0, py, x0+panel, py, x0-5, py+4, tick)
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888" stroke-dasharray="4 3"/>`+"\n", x0, top+panel, x0+panel, top)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">promised wait (business hours)</text>`+"\n", x0+panel/2, top+panel+35)
		fmt.Fprintf(&b, `<text transform="translate(%d %d) rotate(-90)" text-anchor="middle">actual wait (business hours)</text>`+"\n", x0-40, top+panel/2)
		for _, r := range res.Requests {
			if !r.Reported || r.Answer.IsZero() {
				continue
			}
			o := r.Outcomes[m]
			px := float64(x0) + cal.BusinessBetween(r.Arrival, o.Promise).Hours()/maxH*panel
			py := float64(top+panel) - cal.BusinessBetween(r.Arrival, r.Answer).Hours()/maxH*panel
			color := "#2a7"
			if !o.Kept {
				color = "#d33"
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2" fill="%s" fill-opacity="0.6"/>`+"\n", px, py, color)
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">green: answered by the date promised; red: later (above the dashed line). Seed %d.</text>`+"\n", left, h-8, res.Seed)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func tickStep(maxH float64) float64 {
	for _, s := range []float64{1, 2, 4, 8, 16, 24, 40, 80} {
		if maxH/s <= 10 {
			return s
		}
	}
	return 160
}
