# enroll_gen.awk — enrollment CSV rows for tests and the benchmark
# (docs/enrollment.md).  Every row is valid: a resident ID number with its
# GB 11643 check character, names of GB 2312 characters.
#
#   awk -v n=1000 -v first=20250001 -v school=110105-0001 \
#       -v region=110105 -v photo=good.jpg [-v nphotos=K] [-v header=0] \
#       -f enroll_gen.awk
# With nphotos=K the photos are p0.jpg … p(K-1).jpg in turn.
#   awk -v mode=id -v region=110105 -v birth=20120307 -v seq=1 -f …
# prints one ID number.
function idnum(reg, b, q,   s, i, sum) {
	s = reg b sprintf("%03d", q % 1000)
	sum = 0
	for (i = 1; i <= 17; i++)
		sum += substr(s, i, 1) * W[i]
	return s substr("10X98765432", sum % 11 + 1, 1)
}
BEGIN {
	split("7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2", W, " ")
	if (mode == "id") {
		print idnum(region, birth, seq)
		exit
	}
	nf = split("张 王 李 赵 刘 陈 杨 黄 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗", FAM, " ")
	ng = split("伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 涛 明 超 秀 霞 平 刚", GIV, " ")
	if (header != "0")
		print "edu_id,name,gender,school,grade,class,stage,id_type,id_number,photo"
	for (i = 0; i < n; i++) {
		grade = i % 12 + 1
		stage = grade <= 6 ? "primary" : grade <= 9 ? "junior" : "senior"
		birth = sprintf("%04d%02d%02d", 2019 - grade, i % 12 + 1, i % 28 + 1)
		p = nphotos > 0 ? sprintf("p%d.jpg", i % nphotos) : photo
		printf "%d,%s%s,%s,%s,%d,%d,%s,resident,%s,%s\n", first + i,
		       FAM[i % nf + 1], GIV[int(i / nf) % ng + 1],
		       i % 2 ? "female" : "male", school, grade, i % 8 + 1,
		       stage, idnum(region, birth, i), p
	}
}
