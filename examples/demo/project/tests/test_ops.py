"""Tests for calc.ops: one TestCase per function, so each can run alone.

    python -m unittest tests.test_ops.TestMultiply
"""

import unittest

from calc import ops


class TestAdd(unittest.TestCase):
    def test_adds_integers(self):
        self.assertEqual(ops.add(2, 3), 5)

    def test_adds_negative_numbers(self):
        self.assertEqual(ops.add(-2, -3), -5)

    def test_adds_floats(self):
        self.assertAlmostEqual(ops.add(0.1, 0.2), 0.3)


class TestSubtract(unittest.TestCase):
    def test_subtracts_integers(self):
        self.assertEqual(ops.subtract(5, 3), 2)

    def test_result_can_be_negative(self):
        self.assertEqual(ops.subtract(3, 5), -2)


class TestMultiply(unittest.TestCase):
    def test_multiplies_integers(self):
        self.assertEqual(ops.multiply(4, 3), 12)

    def test_multiplies_by_zero(self):
        self.assertEqual(ops.multiply(7, 0), 0)

    def test_multiplies_negative_numbers(self):
        self.assertEqual(ops.multiply(-2, 3), -6)


class TestDivide(unittest.TestCase):
    def test_divides_integers(self):
        self.assertEqual(ops.divide(12, 3), 4)

    def test_returns_a_float(self):
        self.assertEqual(ops.divide(7, 2), 3.5)

    def test_division_by_zero_raises_value_error(self):
        with self.assertRaises(ValueError) as caught:
            ops.divide(1, 0)
        self.assertEqual(str(caught.exception), "division by zero")


if __name__ == "__main__":
    unittest.main()
