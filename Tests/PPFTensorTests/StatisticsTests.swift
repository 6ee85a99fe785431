import PPFTensor
import Testing

@Test func theMedianAndNearestRankQuantilesAreTheTextbookOnes() {
    #expect(Statistics.median([3, 1, 2]) == 2)
    #expect(Statistics.median([4, 1, 3, 2]) == 2.5, "the mean of the two middle values")
    #expect(Statistics.median([]).isNaN)
    let hundred = (1...100).map(Double.init)
    #expect(Statistics.quantile(hundred, 0.99) == 99, "nearest rank: ⌈0.99·100⌉ = 99th value")
    #expect(Statistics.quantile(hundred, 1) == 100)
    #expect(Statistics.quantile(hundred, 0.5) == 50)
    #expect(Statistics.quantile([7], 0.01) == 7)
    #expect(Statistics.quantile((1...1000).map(Double.init), 0.99) == 990)
}
