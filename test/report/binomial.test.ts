import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clopperPearsonInterval, normalQuantile, regularizedBeta, wilsonInterval } from '../../report/binomial';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('normal quantiles match the standard table', () => {
  close(normalQuantile(0.975), 1.959963984540054, 1e-12, 'z 0.975');
  close(normalQuantile(0.995), 2.5758293035489004, 1e-12, 'z 0.995');
  close(normalQuantile(0.001), -3.090232306167813, 1e-12, 'z 0.001');
  close(normalQuantile(0.5), 0, 1e-15, 'z 0.5');
});

test('Wilson score intervals match published values', () => {
  // statsmodels proportion_confint(method='wilson')
  const w = wilsonInterval(5, 10);
  close(w.lo, 0.2365930905, 1e-9, 'wilson 5/10 lo');
  close(w.hi, 0.7634069095, 1e-9, 'wilson 5/10 hi');
  const z = wilsonInterval(0, 100);
  assert.equal(z.lo, 0);
  close(z.hi, 0.0369934982, 1e-9, 'wilson 0/100 hi');
  const f = wilsonInterval(100, 100);
  assert.equal(f.hi, 1);
  close(f.lo, 1 - 0.0369934982, 1e-9, 'wilson 100/100 lo');
});

test('Clopper-Pearson intervals match published values', () => {
  // scipy.stats.binomtest(k, n).proportion_ci(method='exact')
  const a = clopperPearsonInterval(0, 10);
  assert.equal(a.lo, 0);
  close(a.hi, 0.3084971078, 1e-9, 'cp 0/10 hi');
  const b = clopperPearsonInterval(5, 10);
  close(b.lo, 0.1870860284, 1e-9, 'cp 5/10 lo');
  close(b.hi, 0.8129139716, 1e-9, 'cp 5/10 hi');
  const c = clopperPearsonInterval(3, 100);
  close(c.lo, 0.0062299715, 1e-9, 'cp 3/100 lo');
  close(c.hi, 0.085176053, 1e-9, 'cp 3/100 hi');
});

test('intervals contain the estimate, stay in [0, 1], and Clopper-Pearson is the wider away from the edges', () => {
  for (const n of [1, 7, 50, 100, 1000]) {
    for (const k of [0, 1, Math.floor(n / 3), n - 1, n].filter((k) => k >= 0 && k <= n)) {
      const w = wilsonInterval(k, n);
      const cp = clopperPearsonInterval(k, n);
      for (const i of [w, cp]) {
        assert.ok(i.lo >= 0 && i.hi <= 1 && i.lo <= k / n + 1e-12 && i.hi >= k / n - 1e-12, `${k}/${n}: ${JSON.stringify(i)}`);
      }
      if (k > 0 && k < n) assert.ok(cp.hi - cp.lo >= w.hi - w.lo - 1e-12, `${k}/${n}: CP narrower than Wilson`);
    }
  }
  // A higher level gives a wider interval.
  const i90 = wilsonInterval(30, 100, 0.9);
  const i99 = wilsonInterval(30, 100, 0.99);
  assert.ok(i99.lo < i90.lo && i99.hi > i90.hi);
});

test('regularized incomplete beta agrees with closed forms', () => {
  // I_x(1, b) = 1 - (1 - x)^b and I_x(a, 1) = x^a.
  for (const x of [0.01, 0.3, 0.77, 0.999]) {
    close(regularizedBeta(x, 1, 5), 1 - (1 - x) ** 5, 1e-13, `I_${x}(1,5)`);
    close(regularizedBeta(x, 4, 1), x ** 4, 1e-13, `I_${x}(4,1)`);
  }
});

test('bad counts are refused with a message', () => {
  assert.throws(() => wilsonInterval(3, 0), /n >= 1/);
  assert.throws(() => wilsonInterval(11, 10), /0 <= k <= n/);
  assert.throws(() => clopperPearsonInterval(1.5, 10), /0 <= k <= n/);
});
