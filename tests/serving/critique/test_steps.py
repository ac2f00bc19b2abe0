from fractions import Fraction

import pytest

from serving.critique.steps import (check_steps, check_steps_part, evaluate_side, final_left_behind, find_equations,
                                    misfit_reasons, steps_part, wrong_conversions)


@pytest.mark.parametrize("text,expected_text", [
    ("37 + 48 = 104", "37 + 48 = 104"),
    ("Natalia sold <<16-3=13>>13 clips", "16-3 = 13"),
    (r"$\frac{3}{4}\times 8 = 6$", "((3)/(4))* 8 = 6"),
    ("3 × 4 = 12", "3 * 4 = 12"),
    ("12÷4=3", "12/4 = 3"),
    ("total = 2 + 3 = 5 = 5", "2 + 3 = 5 = 5"),
    ("1,250 + 50 = 1,300", "1250 + 50 = 1300"),
])
def test_find_equations_recognises_notations(text, expected_text):
    assert [e.text for e in find_equations(text)] == [expected_text]


@pytest.mark.parametrize("text", ["Solve 2x + 3 = 7 for x.", "f(3) = 9", "x = 4", "5 = 5", "On 2024-01-02 we met"])
def test_find_equations_skips_algebra_and_non_computations(text):
    assert find_equations(text) == []


def test_correct_steps_have_no_wrong_step():
    check = check_steps("First, 12 × 7 = 84.\nThen 84 - 66 = 18.\nThe answer is 18.")
    assert check.wrong == []
    assert not check.final_tainted


def test_wrong_first_step_is_early_and_taints_final():
    check = check_steps("First, 12 × 7 = 74.\nThen 74 - 66 = 8.\nThe answer is 8.")
    assert [w.text for w in check.wrong] == ["12 * 7 = 74"]
    assert check.wrong[0].early
    assert check.wrong[0].expected == "84"
    assert check.final_tainted


def test_wrong_last_step_is_late():
    check = check_steps("First, 12 × 7 = 84.\nThen 84 - 66 = 28.\nThe answer is 28.")
    assert len(check.wrong) == 1 and not check.wrong[0].early
    assert check.final_tainted


def test_slip_not_carried_forward_leaves_final_untainted():
    check = check_steps("First, 12 × 7 = 74.\nThen 84 - 66 = 18.\nThe answer is 18.")
    assert len(check.wrong) == 1
    assert not check.final_tainted


def test_chained_equation_checks_every_link():
    check = check_steps("So 2 + 3 = 5 = 6.")
    assert len(check.wrong) == 1 and check.wrong[0].stated == "6"


def test_running_total_is_not_flagged():
    assert check_steps("3 * 4 = 12 + 5 = 17").wrong == []


def test_rounded_decimal_is_accepted():
    assert check_steps("10 / 3 = 3.33").wrong == []
    assert check_steps("10 / 3 = 3.5").wrong != []


def test_percent_operand_is_evaluated():
    assert check_steps("80 × 25% = 20").wrong == []
    assert check_steps("80 × 25% = 25").wrong != []


def test_gsm8k_annotation_is_checked():
    check = check_steps("He has <<16-3=12>>12 eggs left.")
    assert len(check.wrong) == 1


def test_misread_operand_is_reported_as_ungrounded():
    check = check_steps("47 + 12 = 59. The answer is 59.", question="Tom has 74 apples and buys 12 more.")
    assert check.ungrounded == ["47"]


def test_evaluate_side_refuses_huge_powers_and_bad_syntax():
    assert evaluate_side("9^9^9") is None
    assert evaluate_side("3 4") is None
    assert evaluate_side("1/0") is None


def test_steps_part_scores_by_what_it_finds():
    assert steps_part("12 × 7 = 74. 74 - 66 = 8. The answer is 8.").score == 2.0
    assert steps_part("12 × 7 = 84. 84 - 66 = 28. The answer is 28.").score == 4.0
    assert steps_part("12 × 7 = 74. 84 - 66 = 18. The answer is 18.").score == 7.0
    assert steps_part("12 × 7 = 84. 84 - 66 = 18. The answer is 18.").score == 10.0
    assert steps_part("The answer is 18.").score is None


def test_steps_part_names_the_wrong_step():
    part = steps_part("37 + 48 = 104. The answer is 104.")
    assert "37 + 48 = 104" in part.detail and "85" in part.detail


def test_true_value_of_a_slipped_step_counts_as_grounded():
    check = check_steps("12 × 7 = 74. Then 84 - 66 = 18. The answer is 18.",
                        question="A box holds 12 pencils. Sam buys 7 boxes and gives away 66 pencils.")
    assert check.ungrounded == []


# --- steps as real answers write them (units, words and brackets between the numbers) -------------------


@pytest.mark.parametrize("text,expected_text", [
    ("so 12 apples x 3 = 36 apples", "12 * 3 = 36"),
    ("3 boxes × 12 = 36", "3 * 12 = 36"),
    ("10 times 3 is 30", "10 * 3 = 30"),
    ("$1.20 ÷ 3 = $0.40 each", "1.20 / 3 = 0.40"),
    ("30 + 10 = 30 cents.", "30 + 10 = 30"),
    ("(30 + 10 = 30 cents)", "30 + 10 = 30"),
    ("so 30 + 10 = 30cents.", "30 + 10 = 30"),
    ("3/4 of 52 = 39", "3/4 * 52 = 39"),
    ("25% of 80 is 20", "25% * 80 = 20"),
    ("half of 36 = 18", "1/2 * 36 = 18"),
    ("we start by adding 10 to the original total of 3. This is 12.", "3 + 10 = 12"),
    ("subtracting 5 from 36 gives 31", "36 - 5 = 31"),
    ("multiply 12 by 3 to get 36", "12 * 3 = 36"),
])
def test_find_equations_reads_the_whole_step_around_units_and_words(text, expected_text):
    assert [e.text for e in find_equations(text)] == [expected_text]


@pytest.mark.parametrize("text", ["a part of 36 = 18", "12 red apples each x 3 boxes = 36 apples", "2 + 3 = 5x"])
def test_find_equations_skips_a_step_it_can_only_read_in_part(text):
    assert find_equations(text) == []


def test_wrong_step_with_units_is_named_with_its_whole_left_side():
    check = check_steps("12 apples x 3 = 36 apples. He eats 5, so 12 apples x 3 = 32 apples.")
    assert [w.describe() for w in check.wrong] == ["`12 * 3 = 32` is wrong: 12 * 3 = 36, not 32"]


def test_worded_step_is_checked():
    check = check_steps("We start by adding 10 to the original total of 3. This is 12.")
    assert [w.describe() for w in check.wrong] == ["`3 + 10 = 12` is wrong: 3 + 10 = 13, not 12"]


def test_invented_operand_names_its_step():
    check = check_steps("3 * 12 = 36. 36 - 7 = 29. The answer is 29.",
                        question="Tom has 3 boxes with 12 apples each. He eats 5 apples. How many are left?")
    assert check.ungrounded == ["7"] and check.ungrounded_steps == ["36 - 7 = 29"]


def test_number_words_count_only_as_whole_words():
    # "weight" holds no "eight", "money" no "one": 8 is invented here
    check = check_steps("5 * 8 = 40. The answer is 40.", question="The weight of one box is 5 kg. How much money?")
    assert check.ungrounded == ["8"]


def test_question_number_no_step_uses_is_reported():
    question = "A shop sells pencils at 3 for $1.20. How much do 10 pencils cost?"
    assert check_steps("10 * 3 = 30 pencils, this is 10 * 3 = 30 dollars. The answer is 30.", question).unused == ["1.2"]
    assert check_steps("$1.20 ÷ 3 = $0.40. 0.40 × 10 = 4. The answer is $4.", question).unused == []


def test_percent_given_in_the_question_may_be_used_as_a_decimal():
    assert check_steps("400 × 0.25 = 100. 400 - 100 = 300.", "A jacket costs 400 dollars, 25% off.").unused == []


def test_steps_part_reports_a_placeholder_final_answer():
    part = steps_part("12 * 3 = 36. 36 - 5 = 31. The answer is N", "3 boxes of 12 apples; 5 eaten.")
    assert part.data["final_placeholder"] == "N" and not part.data["has_final"]
    assert part.score == 2.0 and "'N' is not a value" in part.detail


def test_step_after_a_sentence_ending_in_a_unit_is_read():
    assert [e.text for e in find_equations("12 × 3 = 36 apples. 36 - 5 = 31 apples.")] == ["12 * 3 = 36", "36 - 5 = 31"]


def test_percent_given_in_the_question_must_be_used_as_a_percentage():
    question = "A jacket costs 140 dollars and is on sale for 40% off. What is the sale price in dollars?"
    assert check_steps("140 - 40 = 100. 140 - 100 = 40.", question).unused == ["40%"]
    assert check_steps("140 × 40 / 100 = 56. 140 - 56 = 84.", question).unused == []
    assert check_steps("140 × 40% = 56. 140 - 56 = 84.", question).unused == []


def test_decimal_form_of_a_question_percentage_is_grounded():
    assert check_steps("0.2 * 60 = 12. The answer is 12.", question="What is 20% of 60?").ungrounded == []


def test_final_computed_by_a_right_step_is_not_tainted_by_a_later_slip():
    check = check_steps("540 * 0.10 = 54. Then 54 * 1.05 = 54. So the answer is 54.", question="What is 10% of 540?")
    assert len(check.wrong) == 1 and not check.final_tainted


@pytest.mark.parametrize("text", ["24 = 6at + 18a", "7 = 5tan α"])
def test_a_word_glued_to_a_number_is_algebra_not_a_unit(text):
    assert find_equations(text) == []


def test_step_followed_by_a_bracketed_remark_is_read():
    check = check_steps(r"For \(x = -1\): \((-1)^3 + 2(-1)^2 + (-1) - 10 = -1 + 2 - 1 - 10 = 0\) (not a root)")
    assert [w.describe() for w in check.wrong] == ["`(-1)^3 + 2(-1)^2 + (-1) - 10 = -1 + 2 - 1 - 10 = 0` is wrong: "
                                                   "-1 + 2 - 1 - 10 = -10, not 0"]


def test_a_product_with_a_bracketed_algebraic_factor_is_skipped():
    assert find_equations("1^2 = 2(xA - xB)^2") == []
    assert [e.text for e in find_equations("1.5% / 3 = 0.5%(per day)")] == ["1.5% / 3 = 0.5%"]


# How capable models write right answers: none of these may read as a wrong or invented step
# (each was misread before, on hand-written solutions in the style of other models).
@pytest.mark.parametrize("answer", [
    "Lengths: 18 + 24 = 42.\nDistance: 42 × 25 = 1050 m = 1.05 km.\nThe answer is 1.05.",
    "Each day: 35 + 25 = 60 minutes = 1 hour.\nIn 2 weeks (14 days): 14 × 1 = 14 hours.\nThe answer is 14.",
    "Per day: 4 × 750 = 3000 mL = 3 L.\nPer week: 3 × 7 = 21 L.\nThe answer is 21.",
])
def test_a_unit_conversion_is_not_a_wrong_step(answer):
    check = check_steps(answer, question="A question with 18, 24, 25, 35, 750 and 4 in it, over 2 weeks or a week.")
    assert check.wrong == [] and check.ungrounded == [] and check.final_supported


def test_a_conversion_between_different_amounts_of_one_unit_is_still_checked():
    assert [w.text for w in check_steps("It weighs 2 + 3 = 5 kg = 6 kg.").wrong] == ["2 + 3 = 5 = 6"]


def test_a_rounded_result_is_grounded_and_supports_the_final():
    check = check_steps("Eggs: 150 × 5 = 750. Cartons: 750 ÷ 12 = 62.5, so 62 full cartons.\nEarnings: 62 × $3 = $186.\n"
                        "The answer is 186.", question="150 chickens lay 5 eggs each; cartons of 12 sell for $3.")
    assert check.ungrounded == [] and check.final_supported
    assert check_steps("1500 / 48 = 31.25 boxes, so 32 boxes are needed. The answer is 32.").final_supported


def test_a_value_solved_for_a_letter_is_grounded():
    check = check_steps("Let Noah have n. Then n + 3n = 84, so 4n = 84 and n = 21.\nEmma has 3 × 21 = 63.\n"
                        "The answer is 63.", question="Emma has 3 times as many as Noah. Together they have 84.")
    assert check.ungrounded == [] and check.unused == []


def test_numbers_in_algebra_count_as_used():
    check = check_steps("In 6 years: (b + 6) + (b + 10) = 40, so 2b = 24, b = 12.\nMia is 12 + 4 = 16.",
                        question="Mia is 4 years older than her brother. In 6 years the sum of their ages is 40.")
    assert check.unused == []


def test_clock_times_are_not_numbers_to_use():
    assert check_steps("4.5 × 2.50 = 11.25", question="She parked from 9:00 am to 1:30 pm at $2.50 an hour.").unused == []


def test_a_number_divided_by_100_is_used():
    check = check_steps("Fuel: 450 / 100 × 7 = 31.5 liters. Cost: 31.5 × 1.60 = 50.4.",
                        question="7 liters per 100 km, $1.60 a liter, a 450 km trip.")
    assert check.unused == []


def test_days_a_week_are_a_constant_only_where_weeks_are_spoken_of():
    week = check_steps("3 × 7 = 21. The answer is 21.", question="Peter drinks 3 liters a day. How much in a week?")
    other = check_steps("36 - 7 = 29. The answer is 29.", question="Tom has 36 apples. He eats 5. How many are left?")
    assert week.ungrounded == [] and other.ungrounded == ["7"]


@pytest.mark.parametrize(("answer", "steps"), [
    ("**Rent:** 3 days × $40 = $120\n**Fuel:** 2 tanks × $15 = $30\n**Total:** $120 + $30 = **$150**",
     ["3 * 40 = 120", "2 * 15 = 30", "120 + 30 = 150"]),  # markdown bold labels and results
    ("She works 8 hours/day × 5 days = 40 hours a week.", ["8 * 5 = 40"]),  # a product, not "5 days = 40 hours"
    ("A car at 50 km/h × 3 h = 150 km.", ["50 * 3 = 150"]),
    ("3 liters = 3,000 mL; 3,000 mL ÷ 250 mL = 12 cups", ["3000 / 250 = 12"]),  # a conversion with a comma
    (r"$12{,}500 \div 100 = 125$", ["12500 / 100 = 125"]),  # LaTeX's thousands separator
    ("2 h 15 min = 120 + 15 = 135 min", ["120 + 15 = 135"]),  # a compound's first part is not "15 = 120 + 15"
    ("1 h 45 min = 105 min", []),
    ("a + 9 = 14 + 9 = 23", ["14 + 9 = 23"]),  # the letter's side is left out, the rest is a step
    ("only 5 days (4 * 5 = 20)", ["4 * 5 = 20"]),
    ("3**2 + 4**2 = 25", ["3**2 + 4**2 = 25"]),  # a power, not bold
])
def test_steps_are_read_as_capable_models_format_them(answer, steps):
    assert [e.text for e in find_equations(answer)] == steps
    check = check_steps(answer)
    assert check.wrong == [] and misfit_reasons(check, answer, None) == []


def test_a_step_after_a_letter_or_a_compound_is_still_checked():
    assert [w.text for w in check_steps("a + 9 = 14 + 9 = 24").wrong] == ["14 + 9 = 24"]
    assert [w.text for w in check_steps("2 h 15 min = 120 + 15 = 145 min").wrong] == ["120 + 15 = 145"]
    assert wrong_conversions("6 hours/day × 5 days = 30 hours") == []
    assert wrong_conversions("It takes 75 minutes = 0.75 hours") == ["75 minutes = 0.75 hours"]


def test_a_conversion_on_the_line_after_a_quantity_is_checked_and_a_compound_on_one_line_is_not():
    assert wrong_conversions("She trains for 4 weeks\n2 weeks = 12 days") == ["2 weeks = 12 days"]
    assert wrong_conversions("1 hour 15 minutes = 1.25 hours") == []


def test_a_share_the_question_names_in_words_is_grounded_and_an_invented_number_is_not():
    answer = "Each set of three costs $18 + $18 + $9 = $45, and 2 sets cost 2 × $45 = $90."
    named = "Shirts cost $18 each. Buy two and the next one is half price. How much do 6 shirts cost?"
    assert check_steps(answer, named).ungrounded == []
    assert check_steps(answer, named.replace("is half price", "costs less")).ungrounded == ["9"]
    assert check_steps(answer, named.replace("is half price", "is the third one free")).ungrounded == ["9"]  # ordinal


@pytest.mark.parametrize("question, answer", [
    ("A jacket costs $80. It is 25% off, then 8% tax is added. What is the final price?",
     "Twenty-five percent of $80 is $20, so the sale price is $60. The tax is 8% of $60, which is $4.80. "
     "Adding that on gives $60 + $4.80 = $64.80."),
    ("Grandma has 84 candies. She gives 1/3 of them to Sam and shares the rest among 4 cousins. How many each?",
     "A third of 84 is 28, so 84 − 28 = 56 are left. Sharing 56 among 4 cousins gives 56 ÷ 4 = 14 candies."),
    ("A jar contains 36 quarters and 45 dimes. How much money, in dollars, is in the jar?",
     r"\[ 36 \times \$0.25 = \$9.00 \] \[ 45 \times \$0.10 = \$4.50 \] Total: \[ 9.00 + 4.50 = 13.50 \]"),
    ("Two trains go opposite ways at 65 and 55 miles per hour. How far apart are they after 2 hours and 30 minutes?",
     "2 hours 30 minutes is 2.5 hours. 65*2.5 = 162.5 and 55*2.5 = 137.5, so 162.5+137.5 = 300 miles."),
    ("A day has 6 periods of 50 minutes, with 5-minute breaks, except a 30-minute lunch between the 3rd and 4th "
     "periods. How long is it?", "6 × 50 = 300 minutes. 4 × 5 = 20 minutes. 300 + 20 + 30 = 350 minutes."),
    ("Shoes cost $64 and socks $6 a pair. Liam buys shoes and 3 pairs. A coupon takes $10 off orders over $75. "
     "How much does he pay?", r"\(3 \times 6 = 18\). \(64 + 18 = 82\), which is over \$75. \[ 82 - 10 = 72 \]"),
    ("Brand A costs $4.50 for 18 ounces, Brand B $5.40 for 24 ounces. How many cents per ounce cheaper is B?",
     "$4.50 ÷ 18 ounces = $0.25 per ounce = 25 cents per ounce\n$5.40 ÷ 24 ounces = $0.225 per ounce = 22.5 cents "
     "per ounce\n25 − 22.5 = 2.5 cents"),
    ("Jo paints a fence in 6 hours, Kim in 3 hours. How many hours together?",
     r"\[ \frac16 + \frac13 = \frac36 = \frac12 \] \[ 1 \div \frac12 = 2 \text{ hours} \]"),
    ("A laptop is $900. Store A takes 20% off; store B $150 off. How much cheaper is B?",
     "Store A: 900 × 0.80 = 720. Store B: 900 − 150 = 750. Store B is cheaper by 750 - 720 = 30."),
    ("Maria earns $18 an hour for the first 40 hours and 1.5 times that for every hour over 40. She worked 47 hours. "
     "How much did she earn?", "```python\nrate = 18\nregular_hours = 40\novertime_hours = 47 - 40   # 7\n"
     "overtime_rate = rate * 1.5   # 27.0\nregular_pay = rate * regular_hours   # 720\n"
     "overtime_pay = overtime_rate * overtime_hours   # 189.0\ntotal = regular_pay + overtime_pay   # 909.0\n```\n"
     "Maria earned $909 last week."),
    ("Adults pay $14 and children $8. Groups of 15 or more get 10% off. 5 adults and 12 children come. What do they pay?",
     r"$5 \times 14 = 70$ and $12 \times 8 = 96$, so $70 + 96 = 166$. They are $5 + 12 = 17 \ge 15$ people: "
     r"$$166 \times (1 - 0.10) = 166 \times 0.9 = 149.4.$$"),
    ("Jamal runs the first 20 miles at 9 minutes per mile and the last 6.2 miles at 11 minutes per mile. How long?",
     "- **First part:** 20 miles × 9 minutes per mile = 180 minutes\n- **Second part:** 6.2 miles × 11 minutes per "
     "mile = 68.2 minutes\n- **Whole race:** 180 minutes + 68.2 minutes = 248.2 minutes"),
    ("Maya returns 3 books 6 days late and 2 books 11 days late at $0.25 per book-day. What does she owe?",
     r"\(3 \times 6 = 18\) book-days, \(2 \times 11 = 22\) book-days, \(18 + 22 = 40\). \[ 40 \times 0.25 = 10 \]"),
    ("Oranges cost $0.45 each or $4.80 for a bag of 12. She buys 30 oranges, as many full bags as she can. Cost?",
     "30 oranges ÷ 12 oranges per bag = 2 full bags (24 oranges), with 6 oranges left.\n2 × $4.80 = $9.60 and "
     "6 × $0.45 = $2.70, so $9.60 + $2.70 = $12.30."),
    ("A zookeeper has 100 kg of fish; the animals eat 30 kg a day. For how many full days will it last?",
     "100 kg ÷ 30 kg per day = 3.33 days, so the fish lasts 3 full days."),
    ("Twenty-three kids each eat 3 slices. How many slices do they eat?", "23 × 3 = 69 slices."),
    ("A batch uses 1.5 cups of flour and half a cup of sugar. How many cups for 5 batches?",
     "1.5 + 0.5 = 2 cups per batch, and 5 × 2 = 10 cups."),
    ("Shop B charges a $20 fee plus $7 per hour. What does a 6-hour ride cost?",
     "$20 flat fee + (6 hours × $7 per hour) = $20 + $42 = $62"),
    ("Sofia runs 10 miles in her first week and 20% more each week after. How far does she run in her third week?",
     "**Step 1:** Week 1 = 10 miles\n\n**Step 2:** Week 2 = 10 × 1.2 = 12 miles\n\n**Step 3:** Week 3 = 12 × 1.2 = "
     "14.4 miles"),
    ("Each batch needs 3/4 of a cup of sugar and she has 10 cups. How many full batches can she make?",
     "10 ÷ 3/4 = 10 × 4/3 = 40/3 ≈ 13.33, so she can make 13 full batches."),
    ("Raj parks from 9:15 AM to 1:45 PM. How many minutes does he park?",
     "```python\nminutes = (13*60 + 45) - (9*60 + 15)   # 9:15 AM to 1:45 PM\n```\nHe parks 270 minutes."),
])
def test_how_capable_writers_word_a_right_step_is_read_as_right(question: str, answer: str) -> None:
    """Sets E to H's right answers that the reader misread (2026-12-07): percent and share words, "which is",
    LaTeX's ``\\$`` and ``\\frac16``, a dollar amount restated in cents, an ordinal, a compound conversion with
    "is", a threshold used by a comparison (in words or a sign), coin values, a step after "cheaper by", a
    Python code block, a rate's "per mile", a hyphenated unit, a whole quotient with its remainder, a decimal
    that only sizes a whole count, "twenty-three", "half a cup", "Week 2 = ..." (a label), "÷ 3/4", a comment
    that names a time, not a value."""
    part = check_steps_part(answer, question)
    assert part.score == 10.0 and part.data["final_supported"], part.data
    assert not (part.data["wrong"] or part.data["ungrounded"] or part.data["unused"] or part.data["misfit"]), part.data


def test_the_new_readings_still_catch_the_slips_they_could_hide() -> None:
    assert [w.text for w in check_steps("A third of 84 is 24, so 84 - 24 = 60.").wrong] == ["1/3 * 84 = 24"]
    assert check_steps("$0.25 per ounce = 2.5 cents per ounce").wrong  # a dollar amount restated wrongly in cents
    assert check_steps("Twenty-five percent of $80 is $25.").wrong
    assert wrong_conversions("2 hours 30 minutes is 2.3 hours") == ["2 hours 30 minutes is 2.3 hours"]  # its sum
    assert wrong_conversions("90 minutes is 1.3 hours") == ["90 minutes is 1.3 hours"]
    unused = check_steps_part("6 × 50 = 300. 300 + 20 = 320.", "6 periods of 50 minutes; the 3rd one has 30 more.")
    assert unused.data["unused"] == ["30"]  # the 3rd names a place; 30 is a quantity the work forgot


def test_a_code_answer_whose_comment_disagrees_with_its_code_is_a_wrong_step() -> None:
    answer = "```python\nhours = 47 - 40   # 7\npay = 27 * hours   # 179\n```\nShe earned $179."
    assert [w.text for w in check_steps(answer).wrong] == ["27 * 7 = 179"]


def test_a_whole_quotient_needs_its_words_and_a_rounded_step_that_goes_on_is_still_doubted() -> None:
    assert [w.text for w in check_steps("30 / 12 = 2 bags.").wrong] == ["30 / 12 = 2"]
    assert check_steps("30 / 12 = 3 full bags, with 6 left.").wrong  # not the whole part
    assert check_steps("9 / 24 = 0.38. 60 / 0.38 = 157.9. The answer is 158.").rounded == ["9 / 24 = 0.38"]
    sized = "100 / 30 = 3.33 days; 3 * 30 = 90 kg are eaten in 3 days. The answer is {}."
    assert check_steps(sized.format(3)).rounded == []  # the decimal only sizes the whole count
    assert check_steps(sized.format(5)).rounded == ["100 / 30 = 3.33"]


def test_a_conversion_into_a_compound_is_checked_as_its_sum() -> None:
    """A decimal hour read as minutes ("3.5 hours, which is 3 hours and 50 minutes") is the slip a capable writer
    makes on time; the compound's parts are stated values the work may go on with."""
    assert wrong_conversions("It takes 3.5 hours, which is 3 hours and 50 minutes.") == \
        ["3.5 hours, which is 3 hours and 50 minutes"]
    assert wrong_conversions("10 hours and 30 minutes, or 10.3 hours") == ["10 hours and 30 minutes, or 10.3 hours"]
    assert wrong_conversions("3.8 hours is 3 hours and 48 minutes; 1.25 hours = 1 hour 15 minutes") == []
    check = check_steps("228 / 60 = 3.8 hours, which is 3 hours and 48 minutes. 3 * 60 + 48 = 228 minutes.",
                        "How many minutes does it take to drive 228 miles at 60 miles per hour?")
    assert check.ungrounded == [] and check.untrue_conversions == []


def test_a_final_answer_left_behind_by_the_last_step_is_a_misfit() -> None:
    q = "There are 40 students; 45% are boys. Half the girls and a third of the boys sing. How many sing?"
    left = "Boys: 40 * 0.45 = 18. Girls: 40 - 18 = 22. Singers: 22 / 2 = 11 and 18 / 3 = 6, 11 + 6 = 17. Answer: 18"
    right = left.replace("Answer: 18", "Answer: 17")
    assert any("earlier step's result" in r for r in misfit_reasons(check_steps(left, q), left, q))
    assert not any("earlier step's result" in r for r in misfit_reasons(check_steps(right, q), right, q))
    checked = "Kai is 6, Hana 6 * 3 = 18. In six years 18 + 6 = 24 and 12 * 2 = 24, which matches. So Hana is 18."
    assert final_left_behind(find_equations(checked), Fraction(18)) is None  # a check meets a value found before


def test_a_count_rounded_against_the_question_is_a_misfit() -> None:
    q = "Pencils come in boxes of 12. A teacher needs 135 pencils. How much will 3.25-dollar boxes cost her?"
    down = "135 / 12 = 11.25 → about 11 boxes. 11 * 3.25 = 35.75. The answer is 35.75."
    up = "135 / 12 = 11.25, and 11 boxes hold only 132, so 12 boxes. 12 * 3.25 = 39. The answer is 39."
    assert any("rounded up" in r for r in misfit_reasons(check_steps(down, q), down, q))
    assert not any("rounded" in r for r in misfit_reasons(check_steps(up, q), up, q))


def test_a_table_of_calculations_is_read_as_its_equations() -> None:
    q = "A wall is 12 feet wide and 9 feet tall, with a 4 by 3 foot window. Two coats; a can covers 40 square feet."
    right = "| Part | Calculation | Sq ft |\n|---|---|---|\n| Wall | 12 × 9 | 108 |\n| Window | 4 × 3 | −12 |\n" \
            "| Paint | 108 − 12 | 96 |\n| Two coats | 96 × 2 | 192 |\n\nCans: 192 ÷ 40 = 4.8, so 5 cans."
    check = check_steps(right, q)
    assert check.unused == [] and check.wrong == [] and len(check.equations) == 5
    slip = right.replace("| 96 × 2 | 192 |", "| 96 × 2 | 182 |")
    assert [w.text for w in check_steps(slip, q).wrong] == ["96 * 2 = 182"]


def test_a_code_comment_that_names_a_given_or_gives_the_result_after_equals_is_read_so() -> None:
    code = "```python\nold = 40\nrise = 0.15 * old   # 15% increase = 6\nnew = old + rise   # 46 per month\n" \
           "yearly = new * 12   # 12 months in a year\nprint(yearly)   # 552.0\n```"
    assert check_steps(code).wrong == []
    wrong = code.replace("# 15% increase = 6", "# 15% increase = 8")
    assert [w.stated for w in check_steps(wrong).wrong] == ["8"]


def test_one_glyph_fractions_are_read_as_their_values() -> None:
    check = check_steps("40 ÷ 12 = 3⅓ batches, and 3⅓ × ¾ = 2.5 cups.")
    assert check.wrong == [] and len(check.equations) == 2
    assert check_steps("40 ÷ 12 = 3½ batches").wrong  # 3⅓, not 3½


def test_a_rectangles_sides_by_each_other_are_a_product() -> None:
    square_yard = "A square yard is 3 feet by 3 feet, which is 9 square feet."
    assert [e.text for e in find_equations(square_yard)] == ["3 * 3 = 9"]
    assert [w.text for w in check_steps("A rug 4 ft by 6 ft is 20 square feet.").wrong] == ["4 * 6 = 20"]
    assert [e.text for e in find_equations("180 divided by 9 is 20")] == ["180 / 9 = 20"]  # "by" of a division
