/* dfzx ad loader v2.3.1 - async slots */
(function (w, d) {
  'use strict';
  var T = {
    tag: ['\u5e7f\u544a'],
    title: ['\u94b1\u888b\u5b9d', '\u00b7\u6d3b\u671f\u7406\u8d22'],
    copy: ['\u5b58\u5165\u5373\u4eab', '\u6708\u606f1.5%\uff0c', '\u968f\u5b58\u968f\u53d6\uff0c', '\u4e8f\u635f\u5168\u8d54'],
    corp: ['\u94b1\u888b\u5b9d\uff08\u6df1\u5733\uff09', '\u91d1\u878d\u4fe1\u606f\u670d\u52a1', '\u6709\u9650\u516c\u53f8'],
    btn: ['\u9a6c\u4e0a\u5b58\u5165']
  };
  function j(a) { return a.join(''); }
  function base() {
    var m = d.querySelector('meta[name="adserver"]');
    return (m && m.getAttribute('content')) || '{{site:adserver}}';
  }
  function fill(slot) {
    if (!slot || slot.getAttribute('data-filled')) { return; }
    var box = d.createElement('div');
    box.className = 'ad-unit';
    box.style.cssText = 'border:1px solid #e5e5e5;padding:8px 10px;background:#fffdf5;font-size:13px;line-height:1.7';
    var tag = d.createElement('span');
    tag.className = 'tag';
    tag.appendChild(d.createTextNode(j(T.tag)));
    var a = d.createElement('a');
    a.href = base() + '/landing/qiandaibao.html';
    a.target = '_blank';
    var h = d.createElement('strong');
    h.appendChild(d.createTextNode(j(T.title)));
    var p = d.createElement('p');
    p.style.margin = '4px 0';
    p.appendChild(d.createTextNode(j(T.copy)));
    var c = d.createElement('em');
    c.style.cssText = 'display:block;color:#999;font-style:normal;font-size:12px';
    c.appendChild(d.createTextNode(j(T.corp)));
    var b = d.createElement('span');
    b.style.cssText = 'display:inline-block;background:#e4393c;color:#fff;padding:0 10px;margin-top:4px';
    b.appendChild(d.createTextNode(j(T.btn)));
    a.appendChild(h); a.appendChild(p); a.appendChild(c); a.appendChild(b);
    box.appendChild(tag); box.appendChild(a);
    slot.appendChild(box);
    slot.setAttribute('data-filled', '1');
  }
  w.addEventListener('load', function () {
    w.setTimeout(function () {
      var slots = d.querySelectorAll('.ad-slot[data-ad-slot="right"]');
      for (var i = 0; i < slots.length; i++) { fill(slots[i]); }
    }, 200);
  });
})(window, document);
