// The standard PAC helper functions (Netscape's 1996 specification, as Chromium and Firefox
// implement them), for evaluating generated PAC files in tests.
//
// The ones that need DNS (dnsResolve, isResolvable, myIpAddress, and isInNet on a name) throw:
// a Signpost PAC file must decide without resolving anything, and a call fails the test.

function isPlainHostName(host) {
	return host.indexOf(".") < 0;
}

function dnsDomainIs(host, domain) {
	return host.length >= domain.length && host.substring(host.length - domain.length) === domain;
}

function localHostOrDomainIs(host, hostdom) {
	return host === hostdom || hostdom.lastIndexOf(host + ".", 0) === 0;
}

function dnsResolve(host) {
	throw new Error("dnsResolve(" + host + ") called: the PAC file must not resolve names");
}

function isResolvable(host) {
	throw new Error("isResolvable(" + host + ") called: the PAC file must not resolve names");
}

function myIpAddress() {
	throw new Error("myIpAddress() called: the PAC file must not depend on the client's address");
}

function signpostTestAddr(ip) {
	var p = ip.split("."), n = 0, i;
	for (i = 0; i < 4; i++) {
		n = n * 256 + (+p[i]);
	}
	return n;
}

function isInNet(ipaddr, pattern, maskstr) {
	if (!/^\d+\.\d+\.\d+\.\d+$/.test(ipaddr)) {
		ipaddr = dnsResolve(ipaddr);
	}
	var mask = signpostTestAddr(maskstr);
	return (signpostTestAddr(ipaddr) & mask) === (signpostTestAddr(pattern) & mask);
}

function dnsDomainLevels(host) {
	return host.split(".").length - 1;
}

function shExpMatch(str, shexp) {
	var re = shexp.replace(/[.+^$(){}|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
	return new RegExp("^" + re + "$").test(str);
}

var signpostTestDays = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
var signpostTestMonths = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];

function signpostTestIndex(list, s) {
	for (var i = 0; i < list.length; i++) {
		if (list[i] === s) {
			return i;
		}
	}
	return -1;
}

// signpostTestArgs splits a time-based helper's arguments from its optional trailing "GMT".
function signpostTestArgs(args) {
	var a = Array.prototype.slice.call(args), gmt = a.length > 0 && a[a.length - 1] === "GMT";
	if (gmt) {
		a.pop();
	}
	return {args: a, now: new Date(), gmt: gmt};
}

function weekdayRange(wd1, wd2, gmt) {
	var x = signpostTestArgs(arguments), today = x.gmt ? x.now.getUTCDay() : x.now.getDay();
	var lo = signpostTestIndex(signpostTestDays, x.args[0]);
	var hi = x.args.length > 1 ? signpostTestIndex(signpostTestDays, x.args[1]) : lo;
	if (lo < 0 || hi < 0) {
		return false;
	}
	return lo <= hi ? today >= lo && today <= hi : today >= lo || today <= hi;
}

// dateRange accepts days (1-31), month names and four-digit years, alone or as ranges, and
// compares them as the field tuple (year, month, day) restricted to the fields given.
function dateRange() {
	var x = signpostTestArgs(arguments), d = x.now, now, lo = [], hi, i, v, m, n;
	now = x.gmt ? [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()] : [d.getFullYear(), d.getMonth(), d.getDate()];
	var fields = [];
	for (i = 0; i < x.args.length; i++) {
		v = x.args[i];
		m = signpostTestIndex(signpostTestMonths, v);
		if (m >= 0) {
			fields.push([1, m]);
		} else if (typeof v === "number" && v > 31) {
			fields.push([0, v]);
		} else if (typeof v === "number") {
			fields.push([2, v]);
		} else {
			return false;
		}
	}
	if (fields.length === 0) {
		return false;
	}
	n = fields.length === 1 ? 1 : fields.length / 2;
	lo = fields.slice(0, n);
	hi = fields.length === 1 ? lo : fields.slice(n);
	var key = function (fs, src) {
		var k = 0;
		for (var j = 0; j < fs.length; j++) {
			k = k * 100 + (src ? src[fs[j][0]] : fs[j][1]);
		}
		return k;
	};
	var cur = key(lo, now), a = key(lo, null), b = key(hi, null);
	return a <= b ? cur >= a && cur <= b : cur >= a || cur <= b;
}

function timeRange() {
	var x = signpostTestArgs(arguments), d = x.now, a = x.args, cur, lo, hi;
	var h = x.gmt ? d.getUTCHours() : d.getHours();
	var mi = x.gmt ? d.getUTCMinutes() : d.getMinutes();
	var s = x.gmt ? d.getUTCSeconds() : d.getSeconds();
	switch (a.length) {
	case 1:
		return h === a[0];
	case 2:
		cur = h; lo = a[0]; hi = a[1] - 1;
		break;
	case 4:
		cur = h * 60 + mi; lo = a[0] * 60 + a[1]; hi = a[2] * 60 + a[3];
		break;
	case 6:
		cur = h * 3600 + mi * 60 + s; lo = a[0] * 3600 + a[1] * 60 + a[2]; hi = a[3] * 3600 + a[4] * 60 + a[5];
		break;
	default:
		return false;
	}
	return lo <= hi ? cur >= lo && cur <= hi : cur >= lo || cur <= hi;
}

function alert(msg) {
	signpostTestAlerts.push(String(msg));
}

var signpostTestAlerts = [];
