package density

import "math"

// expNonPositive is e^x for the x ≤ 0 of log-sum-exp (x = log-term − max),
// about twice as fast as math.Exp on amd64 and within 2 ulp of it. It
// reduces x = (k/N)·ln 2 + r with N = expTableSize, |r| ≤ ln 2/(2N)
// (Cody–Waite, ln 2 split in two), and returns
//
//	e^x = 2^⌊k/N⌋ · 2^((k mod N)/N) · e^r,   e^r ≈ 1 + r + r²/2! + … + r⁶/6!
//
// (truncation error r⁷/7! < 1e-20). Below −708, where 2^⌊k/N⌋ would leave
// the normal range, and for NaN it defers to math.Exp.
func expNonPositive(x float64) float64 {
	if !(x >= -708) {
		return math.Exp(x)
	}
	kf := x*expInvLn2N + expShifter - expShifter // round(x·N/ln 2), ties to even
	r := x - kf*expLn2HiN - kf*expLn2LoN
	k := int64(kf)
	p := r * (1 + r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	t := expTable[k&(expTableSize-1)]
	scale := math.Float64frombits(uint64((k>>expTableBits)+1023) << 52)
	return (t + t*p) * scale
}

const (
	expTableBits = 6
	expTableSize = 1 << expTableBits
	expInvLn2N   = expTableSize / math.Ln2
	expLn2HiN    = 6.93147180369123816490e-01 / expTableSize // ln 2 high bits, exact in k·expLn2HiN
	expLn2LoN    = 1.90821492927058770002e-10 / expTableSize
	expShifter   = 0x1.8p52 // adding and subtracting it rounds to an integer
)

// expTable holds 2^(j/N), j = 0 … N−1.
var expTable = func() (t [expTableSize]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / expTableSize)
	}
	return t
}()
