(function () {
  function v(id) { return document.getElementById(id).value; }
  document.getElementById('go').addEventListener('click', function () {
    var loan = parseFloat(v('price')) * 10000 * (1 - parseFloat(v('ratio')));
    var n = parseInt(v('years'), 10) * 12;
    var r = parseFloat(v('rate')) / 100 / 12;
    var out;
    if (v('way') === 'ebx') {
      var m = loan * r * Math.pow(1 + r, n) / (Math.pow(1 + r, n) - 1);
      out = '贷款总额 ' + (loan / 10000).toFixed(2) + ' 万元，每月月供 ' + m.toFixed(2) + ' 元，支付利息 ' + ((m * n - loan) / 10000).toFixed(2) + ' 万元。';
    } else {
      var first = loan / n + loan * r;
      var interest = loan * r * (n + 1) / 2;
      out = '贷款总额 ' + (loan / 10000).toFixed(2) + ' 万元，首月月供 ' + first.toFixed(2) + ' 元，每月递减 ' + (loan / n * r).toFixed(2) + ' 元，支付利息 ' + (interest / 10000).toFixed(2) + ' 万元。';
    }
    document.getElementById('out').textContent = out;
  });
})();
